// A deterministic stand-in for the small CLIP in reward-head tests: image embedding = a fixed
// random projection of the 2×2 average-pooled image; text embedding = a bag of fixed random word
// vectors. Differentiable with respect to the images, like the real one.
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';
import type { ImageTextEmbedder } from '../../src/models/embedder.js';

export class FakeClip implements ImageTextEmbedder {
  readonly embedDim: number;
  private readonly proj: Tensor;
  private readonly words = new Map<string, Tensor>();
  disposed = false;
  constructor(dim = 16, seed = 7) {
    this.embedDim = dim;
    torch.manualSeed(seed);
    this.proj = torch.keep(torch.randn([12, dim]).div(Math.sqrt(12)));
  }
  encodeImages(images01: Tensor): Tensor {
    return torch.tidy(() => {
      const x = F.interpolate(images01.mul(2).sub(1), { size: [16, 16], mode: 'bilinear' });
      return F.avgPool2d(x, 8).flatten(1).matmul(this.proj); // [N, 3·2·2] → [N, D]
    });
  }
  encodeText(prompts: string[]): Tensor {
    return torch.tidy(() =>
      torch.stack(
        prompts.map((p) => {
          const vs = p.split(/\s+/).filter(Boolean).map((w) => {
            let v = this.words.get(w);
            if (!v) {
              let h = 0;
              for (const ch of w) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
              torch.manualSeed(h);
              v = torch.keep(torch.randn([this.embedDim]));
              this.words.set(w, v);
            }
            return v;
          });
          return torch.stack(vs).sum([0]);
        }),
      ),
    );
  }
  dispose(): void {
    this.disposed = true;
    this.proj.dispose();
    for (const v of this.words.values()) v.dispose();
  }
}
