/**
 * The deployment under deploy/, checked statically (neither Docker nor a cluster is reachable
 * here): the Kubernetes manifests against the API schemas (kubernetes-models) and against natinv's
 * own option parser and environment readers, so a renamed flag or variable fails here; the
 * Dockerfiles against the package they install (COPY sources, entry point, node version, user,
 * the tfjs-node and CUDA versions).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { parseArgs, ParsedArgs } from '../src/cli/args';
import { COMMANDS } from '../src/cli/run';
import { shardFromEnv } from '../src/dataset/shard';
import { BACKEND_ENV, backendFromEnv } from '../src/runtime/backend';

const ROOT = path.resolve(__dirname, '..');
const DEPLOY = path.join(ROOT, 'deploy');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');
const packageJson = JSON.parse(read('package.json')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
  scripts: Record<string, string>;
  files: string[];
  peerDependencies: Record<string, string>;
};

// ---------------------------------------------------------------- Kubernetes manifests

/** The API kinds deploy/ may use, each with its schema-validating model. */
const MODELS: Record<string, (data: object) => { validate(): void }> = {
  'v1/PersistentVolumeClaim': (data) => new PersistentVolumeClaim(data),
  'batch/v1/Job': (data) => new Job(data),
};

// Parsed YAML, read field by field by the checks below (the schemas are checked by the models).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Manifest = Record<string, any>;

interface Resource {
  file: string;
  kind: string;
  name: string;
  value: Manifest;
}

function loadResources(): { kustomization: Manifest; resources: Resource[] } {
  const kustomization = parseAllDocuments(fs.readFileSync(path.join(DEPLOY, 'kustomization.yaml'), 'utf8'))[0].toJS();
  const resources: Resource[] = [];
  for (const file of kustomization.resources as string[]) {
    for (const document of parseAllDocuments(fs.readFileSync(path.join(DEPLOY, file), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0].message}`);
      const value = document.toJS();
      resources.push({ file, kind: `${value.apiVersion}/${value.kind}`, name: value.metadata?.name, value });
    }
  }
  return { kustomization, resources };
}

/** The natinv command line of a container, parsed by the command's own spec (throws a UsageError for an unknown or malformed flag). */
function parseContainer(container: IContainer): { command: string; args: ParsedArgs } {
  const [command, ...rest] = container.args ?? [];
  const spec = COMMANDS.find((c) => c.spec.name === command)?.spec;
  if (spec === undefined) throw new Error(`container ${container.name}: ${command} is not a natinv command`);
  return { command, args: parseArgs(spec, rest) };
}

function envOf(container: IContainer): Record<string, string> {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value as string]));
}

function jobNamed(resources: Resource[], component: string): Resource {
  const job = resources.find(
    (r) => r.kind === 'batch/v1/Job' && r.value.spec.template.metadata?.labels?.['app.kubernetes.io/component'] === component,
  );
  if (job === undefined) throw new Error(`no Job with component ${component} in deploy/`);
  return job;
}

describe('deploy/ Kubernetes manifests', () => {
  const { kustomization, resources } = loadResources();
  const synthesis = jobNamed(resources, 'synthesize');
  const distillation = jobNamed(resources, 'distill');
  const containerOf = (job: Resource): IContainer => job.value.spec.template.spec.containers[0];

  it.each(resources.map((r) => [`${r.file}: ${r.kind} ${r.name}`, r] as const))(
    '%s is valid against the Kubernetes API schema',
    (_, resource) => {
      const model = MODELS[resource.kind];
      expect(model).toBeDefined();
      expect(() => model(resource.value).validate()).not.toThrow();
    },
  );

  it('the schema check catches a wrong manifest', () => {
    const broken = JSON.parse(JSON.stringify(synthesis.value));
    broken.spec.completions = '8';
    expect(() => new Job(broken).validate()).toThrow(/completions must be integer/);
  });

  it('synthesis is an Indexed Job whose NATINV_SHARD_COUNT is its completions, retried per index', () => {
    const spec = synthesis.value.spec;
    expect(spec.completionMode).toBe('Indexed');
    expect(spec.completions).toBeGreaterThan(1);
    expect(spec.parallelism).toBeGreaterThanOrEqual(1);
    expect(spec.parallelism).toBeLessThanOrEqual(spec.completions);
    expect(spec.backoffLimitPerIndex).toBeGreaterThanOrEqual(1);
    // backoffLimitPerIndex requires pods that are not restarted in place.
    expect(spec.template.spec.restartPolicy).toBe('Never');
    const env = envOf(containerOf(synthesis));
    expect(env.NATINV_SHARD_COUNT).toBe(String(spec.completions));
    // What each pod's natinv makes of the environment Kubernetes gives it.
    for (let index = 0; index < spec.completions; index++) {
      expect(shardFromEnv({ ...env, JOB_COMPLETION_INDEX: String(index) })).toEqual({ index, count: spec.completions });
    }
  });

  it("every container's arguments parse with natinv's own option specs; every variable is one natinv reads", () => {
    for (const job of [synthesis, distillation]) {
      const container = containerOf(job);
      expect(() => parseContainer(container)).not.toThrow();
      for (const [name, value] of Object.entries(envOf(container))) {
        if (name === BACKEND_ENV) expect(backendFromEnv({ [name]: value })).toBe(value);
        else expect(name).toBe('NATINV_SHARD_COUNT');
      }
    }
    const synthesize = parseContainer(containerOf(synthesis));
    expect(synthesize.command).toBe('synthesize');
    // The shard comes from the environment, never a flag that would give every pod the same shard.
    expect(synthesize.args.options.shard).toBeUndefined();
    const distill = parseContainer(containerOf(distillation));
    expect(distill.command).toBe('distill');
    expect(distill.args.options.follow).toBe(true);
    expect(distill.args.options.data).toBe(synthesize.args.options.out);
    // The same teacher on both sides.
    for (const option of ['teacher', 'arch', 'weights', 'mean', 'std', 'classes']) {
      expect([option, distill.args.options[option]]).toEqual([option, synthesize.args.options[option]]);
    }
  });

  it('a renamed flag breaks the parse', () => {
    const container = { ...containerOf(distillation), args: [...(containerOf(distillation).args as string[]), '--folow'] };
    expect(() => parseContainer(container)).toThrow(/unknown option --folow \(did you mean --follow\?\)/);
  });

  it('both jobs mount one ReadWriteMany volume holding the dataset folder, and run the kustomized natinv image as non-root', () => {
    const claim = resources.find((r) => r.kind === 'v1/PersistentVolumeClaim') as Resource;
    expect(claim.value.spec.accessModes).toContain('ReadWriteMany');
    const imageName = (kustomization.images as Array<{ name: string }>)[0].name;
    for (const job of [synthesis, distillation]) {
      const pod = job.value.spec.template.spec;
      const container = containerOf(job);
      const volume = pod.volumes.find(
        (v: { persistentVolumeClaim?: { claimName: string } }) => v.persistentVolumeClaim?.claimName === claim.name,
      );
      expect(volume).toBeDefined();
      const mount = container.volumeMounts?.find((m) => m.name === volume.name);
      expect(mount).toBeDefined();
      const { args } = parseContainer(container);
      const folder = (args.options.out ?? args.options.data) as string;
      expect(folder.startsWith(`${mount?.mountPath}/`)).toBe(true);
      expect(container.image).toBe(imageName);
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBe(1000);
    }
  });
});

// ---------------------------------------------------------------- Dockerfiles

interface Instruction {
  keyword: string;
  text: string;
}

/** The instructions of a Dockerfile: comments dropped, continuation lines joined. */
function instructions(file: string): Instruction[] {
  const joined = read(file)
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), text: rest.join(' ') };
    });
}

/** The Dockerfile's ARG defaults substituted into `text`. */
function substitute(text: string, args: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a, b) => args[a ?? b] ?? whole);
}

/** Exactly the name `npm pack` gives the tarball: <name>-<version>.tgz. */
const TARBALL = `${packageJson.name}-${packageJson.version}.tgz`;

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '.')}$`,
  );
}

/** True when .dockerignore lets `name` into the build context (last matching pattern wins). */
function inContext(name: string): boolean {
  let included = true;
  for (const line of read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (globToRegExp(negated ? line.slice(1) : line).test(name)) included = negated;
  }
  return included;
}

/** The lowest major version an `engines.node` range allows (this package writes `>=N`). */
function lowestNodeMajor(range: string): number {
  const match = /^>=\s*(\d+)(\.\d+){0,2}$/.exec(range.trim());
  if (match === null) throw new Error(`engines.node "${range}" is not of the form >=N; teach this test the new form.`);
  return Number(match[1]);
}

describe.each([
  ['deploy/Dockerfile', '@tensorflow/tfjs-node'],
  ['deploy/Dockerfile.gpu', '@tensorflow/tfjs-node-gpu'],
])('%s', (file, tfjsNode) => {
  const steps = instructions(file);
  const args: Record<string, string> = {};
  for (const step of steps.filter((s) => s.keyword === 'ARG')) {
    const [name, value] = step.text.split('=');
    if (value !== undefined) args[name] = value;
  }
  const froms = steps.filter((s) => s.keyword === 'FROM');
  const stages = froms.map((s) => /\s+AS\s+(\S+)$/i.exec(s.text)?.[1]).filter((s): s is string => s !== undefined);
  const finalStart = steps.lastIndexOf(froms[froms.length - 1]);
  const final = steps.slice(finalStart);

  it('copies only what exists or the documented build step (npm pack) produces, and the build context lets in', () => {
    const copies = steps.filter((s) => s.keyword === 'COPY' || s.keyword === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const words = substitute(copy.text, args).split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='));
      const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
      if (from !== undefined) {
        expect(stages).toContain(from.slice('--from='.length));
        continue;
      }
      for (const source of sources) {
        const produced = source === TARBALL;
        expect([source, produced || fs.existsSync(path.join(ROOT, source))]).toEqual([source, true]);
        expect([source, inContext(source)]).toEqual([source, true]);
      }
    }
    // The documented build step: the header names it, and the package has the scripts it runs.
    expect(read(file)).toContain('npm ci && npm run build && npm pack');
    expect(packageJson.scripts.build).toBeDefined();
    expect(args.NATINV_VERSION).toBe(packageJson.version);
  });

  it('installs the tarball with the tfjs-node package natinv is tested with, in one node_modules on PATH', () => {
    const install = final.find((s) => s.keyword === 'RUN' && s.text.includes('npm install')) as Instruction;
    const text = substitute(install.text, args);
    expect(text).toContain(`/tmp/${TARBALL}`);
    // The tfjs packages are released in lockstep: the image's tfjs-node is the installed tfjs-core's
    // version (tfjs-node itself is installed only for the tensorflow suite).
    const installed = JSON.parse(read('node_modules/@tensorflow/tfjs-core/package.json')).version as string;
    expect(text).toContain(`${tfjsNode}@${installed}`);
    const workdir = final.filter((s, i) => s.keyword === 'WORKDIR' && i < final.indexOf(install)).pop() as Instruction;
    const env = final
      .filter((s) => s.keyword === 'ENV')
      .map((s) => s.text)
      .join(' ');
    expect(env).toContain(`PATH=${workdir.text}/node_modules/.bin:`);
  });

  it('starts the built CLI as its entry point', () => {
    const entry = final.filter((s) => s.keyword === 'ENTRYPOINT').pop() as Instruction;
    expect(JSON.parse(entry.text)).toEqual(['natinv']);
    // natinv on PATH is the package's bin: dist/cli.js, which the build makes from src/cli/main.ts.
    expect(packageJson.bin.natinv).toBe('dist/cli.js');
    expect(packageJson.files).toContain('dist');
    expect(read('tsup.config.ts')).toMatch(/entry: \{ cli: 'src\/cli\/main\.ts' \}/);
    expect(read('src/cli/main.ts').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('runs node of a version engines allows, as a non-root user', () => {
    const nodeImage = froms.map((s) => /^node:(\d+)/.exec(s.text)).find((m) => m !== null);
    expect(nodeImage).toBeDefined();
    expect(Number((nodeImage as RegExpExecArray)[1])).toBeGreaterThanOrEqual(lowestNodeMajor(packageJson.engines.node));
    const users = final.filter((s) => s.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].text;
    expect(['root', '0', '0:0']).not.toContain(user);
    // The user runs the entry point: it comes after every install step.
    const lastRun = final.map((s) => s.keyword).lastIndexOf('RUN');
    expect(final.indexOf(users[users.length - 1])).toBeGreaterThan(lastRun);
  });

  if (tfjsNode === '@tensorflow/tfjs-node-gpu') {
    // The versions come from the installed tfjs-node, present in the tensorflow suite's run.
    const tfjsNodeInstalled = fs.existsSync(path.join(ROOT, 'node_modules/@tensorflow/tfjs-node/package.json'));
    (tfjsNodeInstalled ? it : it.skip)("builds on the CUDA and cuDNN versions tfjs-node-gpu's libtensorflow needs", () => {
      // tfjs-node and tfjs-node-gpu share one source tree: the installed tfjs-node tells the versions.
      const readme = read('node_modules/@tensorflow/tfjs-node/README.md');
      const cuda = /CUDA® Toolkit\]\([^)]*\)\s*\|\s*([\d.]+)/.exec(readme)?.[1] as string;
      const cudnn = /cuDNN SDK\]\([^)]*\)\s*\|\s*([\d.]+)/.exec(readme)?.[1] as string;
      expect([cuda, cudnn]).toEqual(['11.2', '8.1.0']);
      const base = froms[froms.length - 1].text;
      const match = /^nvidia\/cuda:(\d+\.\d+)\.\d+-cudnn(\d+)-runtime-/.exec(base);
      expect(match).not.toBeNull();
      expect((match as RegExpExecArray)[1]).toBe(cuda);
      expect((match as RegExpExecArray)[2]).toBe(cudnn.split('.')[0]);
      expect(read(file)).toContain(`libtensorflow ${require('@tensorflow/tfjs-node/scripts/deps-constants.js').LIBTENSORFLOW_VERSION}`);
      // The image's user is created with the uid the manifests run as.
      expect(steps.find((s) => s.keyword === 'RUN' && s.text.includes('useradd'))?.text).toMatch(/--uid 1000 /);
      expect(packageJson.peerDependencies[tfjsNode]).toBeDefined();
    });
  }
});
