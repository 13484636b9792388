/**
 * Pieces the outcome benches share: the shared data folder, CIFAR-10 sets normalized for a
 * network, and the judgement of a set of images by an independent verifier (top-1 against the
 * targets, Fréchet distance and improved precision/recall of its pooled features against real
 * test images).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { readCifarFile } from '../src/io/files';
import {
  embedFeatures,
  evaluate,
  FeatureStatistics,
  featureStatistics,
  Features,
  frechetDistanceTerms,
  precisionRecall,
  verifierAccuracy,
} from '../src/metrics';
import type { InputNormalization, Teacher } from '../src/models/teacher';
import { normalize } from '../src/synthesis/batch';

/** ../shared beside the package, or NATINV_SHARED_DIR. */
export function sharedDir(root: string): string {
  return process.env.NATINV_SHARED_DIR ?? path.resolve(root, '../shared');
}

export function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${value}.`);
  return n;
}

export const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
/** An accuracy in [0, 1] as a percentage with two decimals. */
export const percent = (accuracy: number): number => round(100 * accuracy, 2);

/** A labelled CIFAR set on the host (pixels in [0, 1]). */
export interface HostSet {
  readonly images01: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
}

const PIXELS = 32 * 32 * 3;

/** The first `limit` images of a CIFAR-10 file. */
export async function readCifar10(file: string, limit?: number): Promise<HostSet> {
  const set = await readCifarFile(file, { layout: 'cifar10', limit });
  return { images01: set.images, labels: set.labels, count: set.count };
}

/** Images `start .. start + count - 1` of a host set, normalized for a network (caller disposes). */
export function normalizedSlice(set: HostSet, normalization: InputNormalization, start = 0, count = set.count - start): tf.Tensor4D {
  return tf.tidy(() =>
    normalize(tf.tensor4d(set.images01.subarray(start * PIXELS, (start + count) * PIXELS), [count, 32, 32, 3]), normalization),
  );
}

/** What the verifier says of a set of images with their targets. */
export interface Judgement {
  teacherAccuracy: number;
  verifierAccuracy: number;
  fd: number;
  fdMeanTerm: number;
  fdCovarianceTerm: number;
  precision?: number;
  recall?: number;
}

/**
 * Verifier metrics of normalized images with their targets: the teacher's and the verifier's
 * top-1 agreement with the targets (%), the Fréchet distance of the verifier's features at
 * `layer` against `reference`, and, with `realFeatures`, improved precision/recall (k = 3)
 * against them.
 */
export async function judgeImages(
  teacher: Teacher,
  verifier: Teacher,
  images: tf.Tensor4D,
  targets: ArrayLike<number>,
  reference: FeatureStatistics,
  options: { layer?: string; realFeatures?: Features; precisionRecallSamples?: number } = {},
): Promise<Judgement> {
  const layer = options.layer ?? verifier.featureTaps[0];
  const teacherAccuracy = percent((await evaluate(teacher, { images, labels: targets })).accuracy);
  const verifierResult = percent((await verifierAccuracy(verifier, images, targets)).accuracy);
  const features = await embedFeatures(verifier, images, { layer });
  const terms = frechetDistanceTerms(featureStatistics(features), reference);
  const judgement: Judgement = {
    teacherAccuracy,
    verifierAccuracy: verifierResult,
    fd: round(terms.distance),
    fdMeanTerm: round(terms.meanTerm),
    fdCovarianceTerm: round(terms.covarianceTerm),
  };
  if (options.realFeatures !== undefined) {
    const cap = options.precisionRecallSamples ?? Infinity;
    const head = (f: Features): Features =>
      f.count <= cap ? f : { data: f.data.subarray(0, cap * f.dimension), count: cap, dimension: f.dimension };
    const pr = precisionRecall(head(options.realFeatures), head(features), { k: 3 });
    judgement.precision = round(pr.precision);
    judgement.recall = round(pr.recall);
  }
  return judgement;
}

/** The machine a bench ran on, for its JSON. */
export function machine(backend: string): Record<string, unknown> {
  return {
    backend,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadAverage: os.loadavg().map((x) => round(x, 2)),
  };
}

/** Writes JSON through a temporary file, so an interrupted write leaves the old file whole. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(temp, `${JSON.stringify(value, null, 2)}\n`);
  await fs.promises.rename(temp, file);
}

/** Reads a JSON file, or undefined when there is none. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: ${(error as Error).message}; delete it to redo that work.`);
  }
}
