// Training the two learned rewards from labels (src/data/preferences.ts):
//   trainPreference — the preference model (models/preference.ts) with the Bradley–Terry loss on
//                     pairs, ties as ½; reports agreement on held-out pairs (ties excluded, and
//                     with ties as ½);
//   trainAesthetic  — the aesthetic head (models/aesthetic.ts) with MSE on 1–10 ratings of
//                     frozen-CLIP embeddings; reports Pearson and Spearman on held-out images.
// Held-out = the pairs/images whose prompt hashes into the held-out fraction (isHeldOut), so no
// held-out prompt is ever trained on. Both run in minutes on a CPU.
//
// The data (loading the labels and images) is in reward-data.ts, the trainers in
// train-preference.ts and train-aesthetic.ts; this module gathers them.
export { loadPairData, loadRatingData, embedImages, type PairData, type RatingData } from './reward-data.js';
export {
  trainPreference, swapLeftRight, PreferenceTrainSchema, PREFERENCE_TRAIN_DEFAULTS,
  type PreferenceTrainConfig, type PreferenceTrainResult, type PreferenceTrainDeps,
} from './train-preference.js';
export {
  trainAesthetic, AestheticTrainSchema, AESTHETIC_TRAIN_DEFAULTS, type AestheticTrainConfig, type AestheticTrainResult,
} from './train-aesthetic.js';
