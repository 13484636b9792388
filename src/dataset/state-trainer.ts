/**
 * Runs a BatchSynthesizer whose batches depend on the ones before it (the fast method) as a
 * resumable trainer for synthesizeToFolder: its carried state travels with the batches in the
 * run folder. Node only.
 */
import { promises as fs } from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/files';
import { metadataJson, rawToTensor, tensorToRaw, type TensorData } from '../io/safetensors';
import type { SynthesizedBatch } from '../synthesis/batch';
import type { BatchSynthesizer, SynthesizeBatchOptions, SynthesizerState } from '../synthesis/synthesizer';
import { batchStatePath } from './format';
import type { BatchTrainer } from './run';
import { Shard, WHOLE_RUN, validateShard } from './shard';

/** Options of {@link stateTrainer}. */
export interface StateTrainerOptions {
  /** The run folder (the one given to synthesizeToFolder). */
  readonly folder: string;
  /** The shard this process runs; each shard carries its own state through its own batches. Default 0/1. */
  readonly shard?: Shard;
  /** Called after every step of every batch. */
  readonly onStep?: SynthesizeBatchOptions['onStep'];
}

const STATE_KEY = 'natinv.state';

/** Writes a synthesizer state atomically (tensors as F32/I32, the JSON part in the metadata). */
export async function writeSynthesizerState(file: string, state: SynthesizerState): Promise<void> {
  const tensors: Record<string, TensorData> = {};
  for (const [name, tensor] of Object.entries(state.tensors)) tensors[name] = await tensorToRaw(tensor);
  await writeSafetensorsFile(file, tensors, { [STATE_KEY]: JSON.stringify(state.json) });
}

/** Reads a state written by {@link writeSynthesizerState}; the caller disposes its tensors. */
export async function readSynthesizerState(file: string): Promise<SynthesizerState> {
  const parsed = await readSafetensorsFile(file);
  const json = metadataJson<Record<string, unknown>>(parsed, STATE_KEY);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, raw] of Object.entries(parsed.tensors)) tensors[name] = rawToTensor(raw);
  return { tensors, json };
}

function disposeState(state: SynthesizerState): void {
  tf.dispose(Object.values(state.tensors));
}

/**
 * A trainer for synthesizeToFolder over a synthesizer that carries state from batch to batch.
 * The shard's batches run in index order; batch i starts from the state left by the shard's
 * batch before it (i - shard.count), or from the synthesizer's initial state for the shard's
 * first batch. After each batch the state is written to `state/batch-<i>.safetensors` before the
 * batch is handed over (and so before it is committed); a state is deleted once the batch after
 * the one it fed is committed, so the folder keeps the last two. So a run killed at any point, rerun, continues exactly as
 * an uninterrupted run; only a batch whose predecessor's state is gone (a corrupt batch deleted
 * deep in a finished run) cannot be redone, and the error says to start over.
 *
 * For one synthesizeToFolder call; the synthesizer stays the caller's (dispose it after the run).
 */
export function stateTrainer(synthesizer: BatchSynthesizer, options: StateTrainerOptions): BatchTrainer {
  const shard = validateShard(options.shard ?? WHOLE_RUN, 'stateTrainer: shard');
  const initial = synthesizer.saveState();
  let holds = -1; // the batch whose state the synthesizer holds; -1: the initial state
  return async function* (batchIndices: number[], signal?: AbortSignal): AsyncGenerator<SynthesizedBatch> {
    const indices = [...batchIndices].sort((a, b) => a - b);
    const bad = indices.find((i) => i % shard.count !== shard.index);
    if (bad !== undefined) throw new Error(`stateTrainer: batch ${bad} does not belong to shard ${shard.index}/${shard.count}.`);
    try {
      for (const index of indices) {
        const previous = index - shard.count;
        if (previous !== holds) {
          if (previous < 0) synthesizer.restoreState(initial);
          else {
            const file = batchStatePath(options.folder, previous);
            const state = await readSynthesizerState(file).catch((cause: Error) => {
              throw new Error(
                `stateTrainer: batch ${index} continues from the state saved after batch ${previous}, which cannot be read ` +
                  `(${cause.message}). Rerun with overwrite to start the run over.`,
              );
            });
            try {
              synthesizer.restoreState(state);
            } finally {
              disposeState(state);
            }
          }
        }
        const batch = await synthesizer.synthesizeBatch(index, { signal, onStep: options.onStep });
        holds = -2; // unknown until the batch is finished
        if (batch === undefined) return;
        const state = synthesizer.saveState();
        try {
          await writeSynthesizerState(batchStatePath(options.folder, index), state);
        } finally {
          disposeState(state);
        }
        holds = index;
        // Batch `previous` was committed before this batch was asked for: the state before it is no longer needed.
        if (previous - shard.count >= 0) await fs.rm(batchStatePath(options.folder, previous - shard.count), { force: true });
        yield batch;
      }
    } finally {
      disposeState(initial);
    }
  };
}
