/**
 * Locates the files natinv ships in its `assets/` folder (Node only). Works from the TypeScript
 * sources (src/models) and from the bundled dist/index.js or dist/index.mjs (tsup shims
 * __dirname in the ESM build): both sit below the package folder.
 */

const PACKAGE_NAME = 'natinv';

/** Options of {@link findAsset}. */
export interface FindAssetOptions {
  /** Folder holding the assets, for setups where the package folder cannot be found. Default: `<package>/assets`. */
  assetsDir?: string;
}

function moduleDir(): string {
  if (typeof __dirname === 'undefined') {
    throw new Error(
      'natinv: cannot tell where the natinv package is installed (__dirname is undefined here, e.g. in a browser ' +
        'bundle); pass { assetsDir } or load the weights yourself with loadTeacher({ weights: bytes }).',
    );
  }
  return __dirname;
}

/**
 * The natinv package folder: the nearest folder at or above `startDir` whose package.json has
 * name "natinv". Default start: this module's folder.
 */
export async function findPackageRoot(startDir: string = moduleDir()): Promise<string> {
  const fs = await import('fs');
  const path = await import('path');
  let dir = path.resolve(startDir);
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable package.json above us is not ours; keep walking.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `natinv: no package.json named "${PACKAGE_NAME}" at or above ${startDir}; pass { assetsDir } pointing at natinv's assets folder.`,
      );
    }
    dir = parent;
  }
}

/** Absolute path of a shipped asset file; throws naming the path when it is not there. */
export async function findAsset(file: string, options: FindAssetOptions = {}): Promise<string> {
  const fs = await import('fs');
  const path = await import('path');
  const dir = options.assetsDir ?? path.join(await findPackageRoot(), 'assets');
  const full = path.resolve(dir, file);
  if (!fs.existsSync(full)) {
    throw new Error(
      `natinv: the asset ${file} is not in ${dir}; reinstall natinv (its "files" include assets/) or pass the right { assetsDir }.`,
    );
  }
  return full;
}
