/**
 * Reading and writing natinv's data: safetensors (weights, parity vectors, image shards), the
 * CIFAR binary layout, PNG files and labelled image grids, as bytes. The Node-only parts (files.ts,
 * node-zlib.ts, png-node.ts) are exported by natinv/node.
 */
export { parseSafetensors, serializeSafetensors, rawToTensor, tensorToRaw, metadataJson } from './safetensors';
export type { StoredDtype, TensorData, RawTensor, SafetensorsFile, ParseSafetensorsOptions } from './safetensors';
export { parseCifar, cifarBatch, CIFAR_RECORD_BYTES, CIFAR10_CLASSES, CIFAR100_FINE_CLASSES, CIFAR100_COARSE_CLASSES } from './cifar';
export type { CifarLayout, CifarOptions, CifarSet } from './cifar';
export { encodePng, decodePng } from './png';
export type { DecodedPng, PngCodecOptions } from './png';
export type { ZlibCodec } from './zlib';
export { toUint8Rgb, imageGrid } from './grid';
export { CHART_PALETTE, lineChartPng, panelsChartPng } from './chart';
export type { ChartPanel, ChartSeries, LineChartOptions, PanelsChartOptions } from './chart';
export type { ToUint8RgbOptions, ImageGridOptions, Rgb, RgbImage } from './grid';
