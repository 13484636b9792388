import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadTeacher, Teacher, ZooArchitecture } from '../src/node';
import {
  adaptiveChannelScaling,
  conditionalGenerator,
  featureSpecsFromModel,
  featureTransferPyramid,
  naturalSource,
  RenderContext,
} from '../src/sources';
import { expectClose } from './helpers/compare';
import { MODELS_DIR, PARITY_DIR } from './helpers/shared';
import { ParityFile, readParityFile } from './helpers/sources-parity';

// The reference feeds the FTP with the teacher's stage outputs, deepest first.
const TAPS = ['layer3.2', 'layer2.2', 'layer1.2'];

interface GeneratorSpec {
  latent: number;
  classes: number;
  channels: number;
  init_size: number;
}

describe('NaturalInversion image parity (natural_inversion_step.safetensors)', () => {
  let file: ParityFile;
  let spec: GeneratorSpec;
  let teacher: Teacher;
  let tapModel: tfl.LayersModel;
  beforeAll(async () => {
    file = readParityFile(path.join(PARITY_DIR, 'natural_inversion_step.safetensors'));
    spec = file.metadata.generator as GeneratorSpec;
    const stem = file.metadata.model as string;
    const arch = /^cifar(?:10|100)_(resnet\d+)$/.exec(stem)?.[1] as ZooArchitecture;
    teacher = await loadTeacher({ arch, weights: path.join(MODELS_DIR, `${stem}.safetensors`) });
    tapModel = tfl.model({
      inputs: teacher.model.inputs,
      outputs: TAPS.map((n) => teacher.model.getLayer(n).output as tfl.SymbolicTensor),
    });
  });
  afterAll(() => {
    teacher.model.dispose();
    tf.dispose(Object.values(file.tensors));
  });

  test("the zoo's default taps are the reference's", () => {
    expect(teacher.featureTaps).toEqual(TAPS);
  });

  test('image = alpha * FTP(G(z), teacher taps of G(z)) from the separate modules', () => {
    const g = conditionalGenerator({
      latentSize: spec.latent,
      numClasses: spec.classes,
      baseWidth: spec.channels,
      initSize: spec.init_size,
      outputSize: spec.init_size * 4,
      seed: 0,
    });
    g.loadPytorchParameters(file.tensors, { prefix: 'generator.' });
    const ftp = featureTransferPyramid({ features: featureSpecsFromModel(teacher.model, TAPS), seed: 0 });
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
        expect(names).toEqual(TAPS);
        return tapModel.predict(images) as tf.Tensor4D[];
      },
    };
    const image = tf.tidy(() => source.render(context));
    expectClose(image, file.tensors.image, 1e-4);
    image.dispose();
    source.dispose();
  });
});
