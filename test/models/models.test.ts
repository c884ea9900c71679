import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { Tokenizer, BOS, EOS, UNK } from '../../src/models/tokenizer.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { tinyConfig, tinyWords } from '../helpers/tiny-model.js';

const words = tinyWords;

test('tokenizer: bos/eos/pad, unknown words warn once by name, decode inverts encode', () => {
  const warnings: string[] = [];
  const tok = new Tokenizer({ words, maxLength: 8 }, (m) => warnings.push(m));
  const e = tok.encode(['A red circle, above!', 'a purple square', '']);
  assert.deepEqual([...e.ids.slice(0, 8)], [BOS, 4, 5, 7, 9, EOS, 0, 0]);
  assert.deepEqual([...e.mask.slice(0, 8)], [1, 1, 1, 1, 1, 1, 0, 0]);
  assert.equal(e.ids[8 + 2], UNK);
  assert.deepEqual([...e.eosIndex], [5, 4, 1]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /unknown word 'purple'/);
  tok.encode(['purple']);
  assert.equal(warnings.length, 1, 'warned once per word');
  assert.equal(tok.decode(e.ids.slice(0, 8)), 'a red circle above');
  assert.throws(() => new Tokenizer({ words: ['a', 'a'], maxLength: 8 }), /appears twice/);
});

test('UNet parameter names follow diffusers', () => {
  const m = new TextToImageModel(tinyConfig());
  const names = new Set(Object.keys(m.stateDict()));
  for (const n of [
    'unet.conv_in.weight', 'unet.time_embedding.linear_1.weight', 'unet.down_blocks.0.resnets.0.conv1.weight',
    'unet.down_blocks.0.resnets.0.time_emb_proj.weight', 'unet.down_blocks.0.downsamplers.0.conv.weight',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj.weight',
    'unet.mid_block.resnets.1.conv2.weight', 'unet.mid_block.attentions.0.proj_in.weight',
    'unet.up_blocks.0.resnets.1.conv_shortcut.weight', 'unet.up_blocks.0.upsamplers.0.conv.weight',
    'unet.up_blocks.1.resnets.1.norm1.weight', 'unet.conv_norm_out.weight', 'unet.conv_out.bias',
    'text_encoder.embeddings.token_embedding.weight', 'text_encoder.encoder.layers.0.self_attn.q_proj.weight',
    'text_encoder.final_layer_norm.weight',
  ]) assert.ok(names.has(n), `missing ${n}`);
  m.dispose();
});

test('forward shapes, conditioning matters, gradients reach both networks', () => {
  torch.manualSeed(0);
  const m = new TextToImageModel(tinyConfig());
  const x = torch.randn([2, 3, 8, 8]);
  const t = torch.tensor([10, 900]);
  const a = m.encode(['a red circle', 'a blue square']);
  const b = m.encode(['', '']);
  assert.deepEqual(a.hidden.shape, [2, 8, 16]);
  assert.deepEqual(a.pooled.shape, [2, 16]);
  const ya = m.predict(x, t, a);
  assert.deepEqual(ya.shape, [2, 3, 8, 8]);
  const yb = m.predict(x, t, b);
  assert.ok(ya.sub(yb).abs().max().item() > 1e-6, 'the text changes the output');
  ya.square().mean().backward();
  assert.ok(m.unet.convIn.weight.grad!.abs().sum().item() > 0);
  assert.ok(m.textEncoder.embeddings.token.weight.grad!.abs().sum().item() > 0);
  assert.throws(() => m.predict(torch.randn([3, 3, 8, 8]), t, a), /batch sizes differ/);
  m.dispose();
});

test('save → load gives the same outputs; a corrupt config names the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const m = new TextToImageModel(tinyConfig());
  await m.save(dir);
  const m2 = await TextToImageModel.load(dir);
  const x = torch.randn([1, 3, 8, 8]);
  const t = torch.tensor([500]);
  const diff = torch.tidy(() => m.predict(x, t, m.encode(['a red circle'])).sub(m2.predict(x, t, m2.encode(['a red circle']))).abs().max().item());
  assert.equal(diff, 0);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...tinyConfig(), unet: { ...tinyConfig().unet, layersPerBlock: 0 } }));
  await assert.rejects(TextToImageModel.load(dir), /unet\.layersPerBlock/);
  m.dispose();
  m2.dispose();
});
