/**
 * Quickstart: invert the bundled CIFAR-10 ResNet-20 with NaturalInversion and write the images.
 * Run: see examples/README.md. In your own project, import from 'natinv/node' instead of '../src/node'.
 */
import { CIFAR10_CLASSES, loadBundledTeacher, naturalInversion, useBackend, writeBatch } from '../src/node';

async function main(out = process.argv[2] ?? 'natinv-out/quickstart'): Promise<void> {
  await useBackend(); // NATINV_BACKEND: cpu (default), wasm or tensorflow
  const teacher = await loadBundledTeacher('cifar10-resnet20');
  // Tiny so it runs anywhere in seconds; the paper uses batchSize 256 and 2000 steps.
  for await (const batch of naturalInversion(teacher, { batchSize: 2, steps: 2, seed: 0 })) {
    const { grid } = await writeBatch(out, batch, { classNames: CIFAR10_CLASSES });
    console.log(`batch ${batch.index}: loss ${batch.loss.toFixed(1)}, grid ${grid}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
