import * as zlib from 'zlib';
import * as neutral from '../src/io/png';
import { crc32 } from '../src/io/png';
import { decodePng, encodePng } from '../src/io/png-node';
import { adler32, storedZlib } from '../src/io/zlib';
import { imageGrid, toUint8Rgb } from '../src/io/grid';
import { FONT_CHARACTERS, GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from '../src/io/font';
import { CHART_PALETTE, lineChartPng, panelsChartPng } from '../src/io/chart';

/** Deterministic pseudo-random bytes (an LCG), so failures reproduce. */
function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

interface Chunk {
  type: string;
  data: Uint8Array;
  crc: number;
}

/** Splits a PNG into chunks, independently of the decoder under test. */
function chunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  for (let at = 8; at < png.length;) {
    const length = view.getUint32(at);
    out.push({
      type: Buffer.from(png.subarray(at + 4, at + 8)).toString('latin1'),
      data: png.subarray(at + 8, at + 8 + length),
      crc: view.getUint32(at + 8 + length),
    });
    at += 12 + length;
  }
  return out;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(new Uint8Array(Buffer.concat([head.subarray(4), data])))); // crc32 is checked against known values below
  return Buffer.concat([head, data, crc]);
}

/** A PNG whose rows use the given filter types, built with a reference filter encoder. */
function filteredPng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4,
  filters: number[],
  ihdrOverride: Partial<Record<'depth' | 'color' | 'interlace', number>> = {},
): Uint8Array {
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length];
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = pixels[y * stride + i];
      const a = i >= channels ? pixels[y * stride + i - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels] : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const predictor = [0, a, b, Math.floor((a + b) / 2), pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      raw[y * (stride + 1) + 1 + i] = (x - predictor) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = ihdrOverride.depth ?? 8;
  ihdr[9] = ihdrOverride.color ?? (channels === 3 ? 2 : 6);
  ihdr[12] = ihdrOverride.interlace ?? 0;
  const deflated = zlib.deflateSync(raw);
  // Split IDAT in two to check the decoder joins them.
  const half = Math.floor(deflated.length / 2);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('tEXt', Buffer.from('Comment\0ancillary chunks are skipped', 'latin1')),
      pngChunk('IDAT', deflated.subarray(0, half)),
      pngChunk('IDAT', deflated.subarray(half)),
      pngChunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

describe('crc32', () => {
  it('matches known values', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new TextEncoder().encode('IEND'))).toBe(0xae426082);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('encodePng / decodePng', () => {
  it.each([3, 4] as const)('round-trips random %i-channel pixels', (channels) => {
    const width = 13;
    const height = 7;
    const pixels = randomBytes(width * height * channels, channels);
    const decoded = decodePng(encodePng(pixels, width, height, channels));
    expect(decoded).toEqual({ pixels, width, height, channels });
  });

  it('writes the signature, a correct IHDR and valid chunk CRCs, with filter 0 on every row', () => {
    const pixels = randomBytes(5 * 3 * 3);
    const png = encodePng(pixels, 5, 3, 3);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const list = chunks(png);
    expect(list.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = Buffer.from(list[0].data);
    expect(ihdr.length).toBe(13);
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)]).toEqual([5, 3]);
    expect(Array.from(ihdr.subarray(8))).toEqual([8, 2, 0, 0, 0]); // depth 8, RGB, deflate, filter 0, no interlace
    expect(list[2].crc).toBe(0xae426082);
    for (const c of list) expect(c.crc).toBe(crc32(new Uint8Array(Buffer.concat([Buffer.from(c.type, 'latin1'), c.data]))));
    const raw = zlib.inflateSync(list[1].data);
    expect(raw.length).toBe(3 * (1 + 15));
    for (let y = 0; y < 3; y++) {
      expect(raw[y * 16]).toBe(0);
      expect(Array.from(raw.subarray(y * 16 + 1, (y + 1) * 16))).toEqual(Array.from(pixels.subarray(y * 15, (y + 1) * 15)));
    }
    expect(Array.from(decodePng(encodePng(new Uint8Array(8), 1, 2, 4)).pixels)).toEqual(new Array(8).fill(0));
    expect(chunks(encodePng(new Uint8Array(4), 1, 1, 4))[0].data[9]).toBe(6); // RGBA colour type
  });

  it.each([
    ['None', [0]],
    ['Sub', [1]],
    ['Up', [2]],
    ['Average', [3]],
    ['Paeth', [4]],
    ['mixed', [0, 1, 2, 3, 4, 4, 3, 2, 1]],
  ])('decodes rows filtered with %s', (_, filters) => {
    for (const channels of [3, 4] as const) {
      const width = 9;
      const height = 11;
      const pixels = randomBytes(width * height * channels, 7 + channels);
      const decoded = decodePng(filteredPng(pixels, width, height, channels, filters));
      expect(decoded.channels).toBe(channels);
      expect(Array.from(decoded.pixels)).toEqual(Array.from(pixels));
    }
  });

  it('rejects what it cannot decode, saying why', () => {
    const pixels = randomBytes(4 * 4 * 3);
    const good = encodePng(pixels, 4, 4, 3);
    expect(() => decodePng(new Uint8Array([1, 2, 3]))).toThrow(/does not start with the PNG signature/);
    expect(() => decodePng(good.subarray(0, good.length - 20))).toThrow(/truncated/);
    const corrupt = good.slice();
    corrupt[20] ^= 0xff; // inside IHDR
    expect(() => decodePng(corrupt)).toThrow(/chunk IHDR at byte 8 has a bad CRC/);
    expect(() => decodePng(filteredPng(pixels, 4, 4, 3, [0], { depth: 16 }))).toThrow(/bit depth 16 is not supported/);
    expect(() => decodePng(filteredPng(pixels, 4, 4, 3, [0], { color: 3 }))).toThrow(/colour type 3 is not supported/);
    expect(() => decodePng(filteredPng(pixels, 4, 4, 3, [0], { interlace: 1 }))).toThrow(/interlaced \(Adam7\) PNGs are not supported/);
    expect(() => decodePng(filteredPng(pixels, 4, 4, 3, [5]))).toThrow(/row 0 has filter type 5/);
  });

  it('rejects bad encoder input', () => {
    expect(() => encodePng(new Uint8Array(10), 2, 2, 3)).toThrow(/10 bytes given but 2x2x3 needs 12/);
    expect(() => encodePng(new Uint8Array(0), 0, 2, 3)).toThrow(/width must be a positive integer, got 0/);
    expect(() => encodePng(new Uint8Array(4), 2, 2, 1 as 3)).toThrow(/channels must be 3 \(RGB\) or 4 \(RGBA\)/);
  });
});

describe('the platform-neutral PNG codec (stored zlib blocks)', () => {
  it('round-trips, and Node reads what it writes, across several stored blocks', () => {
    const width = 160;
    const height = 150; // 150 rows of 481 bytes: 72,150 raw bytes, two stored blocks
    const pixels = randomBytes(width * height * 3, 5);
    const png = neutral.encodePng(pixels, width, height, 3);
    for (const decoded of [neutral.decodePng(png), decodePng(png)]) {
      expect([decoded.width, decoded.height, decoded.channels]).toEqual([width, height, 3]);
      expect(Buffer.compare(decoded.pixels, pixels)).toBe(0);
    }
    const idat = chunks(png).find((c) => c.type === 'IDAT')!;
    expect(zlib.inflateSync(idat.data).length).toBe(height * (width * 3 + 1));
  });

  it('Adler-32 matches known values and catches corrupt data', () => {
    expect(adler32(new TextEncoder().encode('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(new Uint8Array(0))).toBe(1);
    const big = randomBytes(100_000, 2);
    expect(adler32(big)).toBe(zlib.deflateSync(big).readUInt32BE(zlib.deflateSync(big).length - 4));
    const stream = storedZlib.deflate(big);
    stream[500] ^= 1;
    expect(() => storedZlib.inflate(stream)).toThrow(/Adler-32 checksum does not match/);
  });

  it('says what to do with a compressed PNG it cannot inflate', () => {
    const pixels = new Uint8Array(4 * 4 * 3).fill(7); // compressible, so Node's zlib uses Huffman-coded blocks
    expect(() => neutral.decodePng(encodePng(pixels, 4, 4, 3))).toThrow(/compressed.*'natinv\/node'/);
    expect(
      neutral.decodePng(encodePng(pixels, 4, 4, 3), { zlib: { deflate: zlib.deflateSync, inflate: zlib.inflateSync } }).pixels,
    ).toEqual(pixels);
  });
});

describe('toUint8Rgb', () => {
  it('clamps, scales and rounds', () => {
    const out = toUint8Rgb(new Float32Array([0, 1, 0.5, -0.2, 1.7, NaN, 0.001, 0.999, 0.002]));
    expect(Array.from(out)).toEqual([0, 255, 128, 0, 255, 0, 0, 255, 1]);
  });

  it('replicates grey and drops alpha', () => {
    expect(Array.from(toUint8Rgb(new Float32Array([0.2, 1]), { channels: 1 }))).toEqual([51, 51, 51, 255, 255, 255]);
    expect(Array.from(toUint8Rgb(new Float32Array([0, 0.2, 1, 0.5]), { channels: 4 }))).toEqual([0, 51, 255]);
    expect(() => toUint8Rgb(new Float32Array(4))).toThrow(/4 values is not a whole number of 3-channel pixels/);
  });
});

describe('font', () => {
  it('has 5x7 glyphs for letters, digits and punctuation, all distinct, and a box for the rest', () => {
    const wanted = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_!?()/';
    for (const ch of wanted) expect(FONT_CHARACTERS).toContain(ch);
    const seen = new Map<string, string>();
    for (const ch of FONT_CHARACTERS) {
      const g = glyph(ch);
      expect(g).toHaveLength(GLYPH_HEIGHT);
      for (const row of g) expect(row).toHaveLength(GLYPH_WIDTH);
      const key = g.map((r) => r.map((b) => (b ? '#' : '.')).join('')).join('|');
      expect(seen.get(key)).toBeUndefined();
      seen.set(key, ch);
    }
    const box = glyph('\u00e9');
    expect(box[0].every(Boolean)).toBe(true);
    expect(box[3]).toEqual([true, false, false, false, true]);
    expect(seen.has(box.map((r) => r.map((b) => (b ? '#' : '.')).join('')).join('|'))).toBe(false);
  });
});

describe('imageGrid', () => {
  const count = 5;
  const images = new Float32Array(count * 4 * 6 * 3).map((_, i) => (i % 7) / 6);

  it('has the documented size for given columns, padding and scale', () => {
    const grid = imageGrid(images, count, 4, 6, { columns: 2, padding: 3, scale: 3 });
    expect(grid.width).toBe(2 * 18 + 3 * 3);
    expect(grid.height).toBe(3 * 12 + 4 * 3);
    expect(grid.pixels).toHaveLength(grid.width * grid.height * 3);
    const labelled = imageGrid(images, count, 4, 6, { columns: 2, padding: 3, scale: 3, labels: ['a', 'b', 'c', 'd', 'e'], textScale: 2 });
    expect(labelled.width).toBe(grid.width);
    expect(labelled.height).toBe(3 * (12 + 20) + 4 * 3);
  });

  it('defaults to scale 2, padding 2 and a square-ish layout', () => {
    const grid = imageGrid(new Float32Array(64 * 32 * 32 * 3), 64, 32, 32);
    expect(grid.width).toBe(8 * 64 + 9 * 2);
    expect(grid.height).toBe(8 * 64 + 9 * 2);
  });

  it('upscales each pixel into a scale x scale block at the tile position', () => {
    const grid = imageGrid(images, count, 4, 6, { columns: 2, padding: 3, scale: 3 });
    // Image 3 (row 1, column 1), source pixel (y 2, x 5), output block at top-left of its tile.
    const n = 3;
    const left = 3 + 1 * (18 + 3);
    const top = 3 + 1 * (12 + 3);
    const expected = [0, 1, 2].map((c) => Math.round(images[((n * 4 + 2) * 6 + 5) * 3 + c] * 255));
    for (let dy = 0; dy < 3; dy++) {
      for (let dx = 0; dx < 3; dx++) {
        const at = ((top + 2 * 3 + dy) * grid.width + left + 5 * 3 + dx) * 3;
        expect(Array.from(grid.pixels.subarray(at, at + 3))).toEqual(expected);
      }
    }
    // Padding is background.
    expect(Array.from(grid.pixels.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it('draws a label under its own tile and nowhere else', () => {
    const labels = ['', '', 'cat', '', ''];
    const blank = imageGrid(images, count, 4, 6, { columns: 2, labels: ['', '', '', '', ''] });
    const drawn = imageGrid(images, count, 4, 6, { columns: 2, labels });
    expect([drawn.width, drawn.height]).toEqual([blank.width, blank.height]);
    const changed: Array<[number, number]> = [];
    for (let p = 0; p < drawn.width * drawn.height; p++) {
      if (drawn.pixels[3 * p] !== blank.pixels[3 * p]) changed.push([p % drawn.width, Math.floor(p / drawn.width)]);
    }
    expect(changed.length).toBeGreaterThan(10);
    // Tile 2 sits at row 1, column 0: x in [2, 14), caption strip below its 8-pixel-high image.
    const cellTop = 2 + (8 + 10) + 2;
    for (const [x, y] of changed) {
      expect(x).toBeGreaterThanOrEqual(2);
      expect(x).toBeLessThan(2 + 12);
      expect(y).toBeGreaterThanOrEqual(cellTop + 8);
      expect(y).toBeLessThan(cellTop + 8 + 10);
      expect(Array.from(drawn.pixels.subarray(3 * (y * drawn.width + x), 3 * (y * drawn.width + x) + 3))).toEqual([255, 255, 255]);
    }
  });

  it('renders different labels differently', () => {
    const a = imageGrid(images.subarray(0, 4 * 6 * 3 * 1), 1, 4, 6, { labels: ['ab'], scale: 4 });
    const b = imageGrid(images.subarray(0, 4 * 6 * 3 * 1), 1, 4, 6, { labels: ['ba'], scale: 4 });
    expect(Buffer.from(a.pixels).equals(Buffer.from(b.pixels))).toBe(false);
  });

  it('rejects inconsistent input', () => {
    expect(() => imageGrid(images, 4, 4, 6)).toThrow(/360 values given but 4 images of 4x6x3 need 288/);
    expect(() => imageGrid(images, count, 4, 6, { labels: ['x'] })).toThrow(/1 labels given for 5 images/);
    expect(() => imageGrid(images, count, 4, 6, { scale: 1.5 })).toThrow(/scale must be a positive integer, got 1.5/);
  });
});

describe('charts', () => {
  const series = [
    {
      name: 'run',
      points: [
        [0, 3],
        [1, 5],
        [2, 4],
      ] as Array<[number, number]>,
    },
  ];

  it('draws panels side by side into one PNG, each with its series in colour', () => {
    const png = panelsChartPng(
      [
        { title: 'a', xLabel: 'x', series },
        { title: 'b', xLabel: 'x', series, fitY: true },
      ],
      { panelWidth: 200, panelHeight: 120 },
    );
    const image = decodePng(png);
    expect([image.width, image.height, image.channels]).toEqual([400, 120, 3]);
    // The first palette colour appears in both halves: a line was drawn in each panel.
    const [r, g, b] = CHART_PALETTE[0];
    const inHalf = (half: number): boolean => {
      for (let y = 0; y < 120; y++)
        for (let x = half * 200; x < (half + 1) * 200; x++) {
          const i = (y * 400 + x) * 3;
          if (image.pixels[i] === r && image.pixels[i + 1] === g && image.pixels[i + 2] === b) return true;
        }
      return false;
    };
    expect([inHalf(0), inHalf(1)]).toEqual([true, true]);
  });

  it('lineChartPng is one panel of the given size', () => {
    const image = decodePng(lineChartPng(series, { xLabel: 'x', yLabel: 'y', width: 300, height: 200 }));
    expect([image.width, image.height]).toEqual([300, 200]);
  });

  it('refuses an empty list of panels', () => {
    expect(() => panelsChartPng([])).toThrow('panelsChartPng: give at least one panel.');
  });
});
