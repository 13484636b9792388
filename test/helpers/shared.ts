import * as path from 'path';

/** ../shared beside the repository (CI has it there too); NATINV_SHARED_DIR overrides. */
export const SHARED_DIR = process.env.NATINV_SHARED_DIR ?? path.resolve(__dirname, '../../../shared');

/** Parity vectors; NATINV_PARITY_DIR points the parity tests at another set made the same way. */
export const PARITY_DIR = process.env.NATINV_PARITY_DIR ?? path.join(SHARED_DIR, 'parity');

export const MODELS_DIR = path.join(SHARED_DIR, 'models');
export const DATA_DIR = path.join(SHARED_DIR, 'data');
