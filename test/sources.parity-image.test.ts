import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { tapNetwork, Teacher } from '../src/node';
import {
  adaptiveChannelScaling,
  conditionalGenerator,
  featureSpecsFromModel,
  featureTransferPyramid,
  naturalSource,
  RenderContext,
} from '../src/sources';
import { expectClose } from './helpers/compare';
import { ParityFile, ParityRecord, readParityFile, stageOutput } from './helpers/parity';
import { sharedTeacher } from './helpers/teachers';

interface GeneratorSpec {
  latent: number;
  classes: number;
  channels: number;
  init_size: number;
}

// Model, generator sizes and FTP depth come from the parity file's metadata and tensors, the tap
// layers from the zoo: a set made the same way from another CIFAR ResNet depth passes unchanged.
describe('NaturalInversion image parity (natural_inversion_step.safetensors)', () => {
  let file: ParityRecord;
  let spec: GeneratorSpec;
  let teacher: Teacher;
  let taps: readonly string[];
  let tapModel: tfl.LayersModel;
  beforeAll(() => {
    file = readParityFile('natural_inversion_step.safetensors');
    spec = file.metadata.generator as GeneratorSpec;
    teacher = sharedTeacher(file.metadata.model as string);
    taps = teacher.featureTaps;
    tapModel = tfl.model({
      inputs: teacher.model.inputs,
      outputs: taps.map((n) => teacher.model.getLayer(n).output as tfl.SymbolicTensor),
    });
  });
  afterAll(() => tf.dispose(Object.values(file.tensors)));

  test("the zoo's default taps are the reference's stage outputs, deepest first, with its FTP's channels", () => {
    // The reference taps the stages teacher_logits.safetensors names (tap_<stage>), deepest first.
    const stages = new ParityFile('teacher_logits.safetensors')
      .names()
      .filter((name) => name.startsWith('tap_'))
      .map((name) => name.slice('tap_'.length))
      .sort()
      .reverse();
    const { layerNames } = tapNetwork(teacher.model);
    expect(taps).toEqual(stages.map((stage) => stageOutput(layerNames, stage)));
    // Its FTP has one reduce.k per tap after the first, mapping tap k's channels to tap k+1's.
    const channels = featureSpecsFromModel(teacher.model, taps).map((f) => f.channels);
    const reduces = Object.keys(file.tensors).filter((name) => /^ftp\.reduce\.\d+\.weight$/.test(name));
    expect(reduces).toHaveLength(taps.length - 1);
    reduces.forEach((_, k) => expect(file.tensors[`ftp.reduce.${k}.weight`].shape).toEqual([channels[k + 1], channels[k], 1, 1]));
  });

  test('image = alpha * FTP(G(z), teacher taps of G(z)) from the separate modules', () => {
    const g = conditionalGenerator({
      latentSize: spec.latent,
      numClasses: spec.classes,
      baseWidth: spec.channels,
      initSize: spec.init_size,
      outputSize: teacher.inputShape[0],
      seed: 0,
    });
    g.loadPytorchParameters(file.tensors, { prefix: 'generator.' });
    const ftp = featureTransferPyramid({ features: featureSpecsFromModel(teacher.model, taps), seed: 0 });
    ftp.loadPytorchParameters(file.tensors, { prefix: 'ftp.' });
    const acs = adaptiveChannelScaling({ batchSize: file.tensors.alpha.shape[0], seed: 0 });
    acs.alpha.assign(file.tensors.alpha);
    const image = tf.tidy(() => {
      const out = g.forward(file.tensors.z as tf.Tensor2D);
      const taps = tapModel.predict(out) as tf.Tensor4D[];
      return acs.apply(ftp.forward(out, taps));
    });
    expectClose(image, file.tensors.image, 1e-4);
    image.dispose();
    [g, ftp, acs].forEach((m) => m.dispose());
  });

  test('naturalSource.render with the file latent and weights, without augmentation, gives image', () => {
    const labels = file.metadata.labels as number[];
    const latent = tf.slice(file.tensors.z, [0, 0], [-1, spec.latent]) as tf.Tensor2D;
    const source = naturalSource({
      teacher,
      batchSize: labels.length,
      labels,
      seed: 0,
      generator: { latentSize: spec.latent, baseWidth: spec.channels, initSize: spec.init_size },
      latent,
    });
    latent.dispose();
    expectClose(source.generatorInput, file.tensors.z, 0);
    source.generator.loadPytorchParameters(file.tensors, { prefix: 'generator.' });
    source.ftp.loadPytorchParameters(file.tensors, { prefix: 'ftp.' });
    source.acs.alpha.assign(file.tensors.alpha);
    const context: RenderContext = {
      augment: (images) => images,
      teacherFeatures: (images, names) => {
        expect(names).toEqual(taps);
        return tapModel.predict(images) as tf.Tensor4D[];
      },
    };
    const image = tf.tidy(() => source.render(context));
    expectClose(image, file.tensors.image, 1e-4);
    image.dispose();
    source.dispose();
  });
});
