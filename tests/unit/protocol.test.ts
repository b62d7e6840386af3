import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../../common/experiment';
import type { IterationRecord } from '../../common/metrics';
import { decodeFrame, encodeFrame, encodeFrameParts, joinParts } from '../../common/frame';
import {
  MAX_HEADER_BYTES,
  parseRunConfig,
  ProtocolError,
  type Message,
  type ProtocolErrorCode,
} from '../../common/protocol';
import { decodeUtf8, encodeUtf8 } from '../../common/utf8';
import { syntheticExperiment } from '../experimentFixture';

const caps = { host: 'node-1', pid: 42, backend: 'webgpu' as const, cores: 8 };

const iteration: IterationRecord = {
  runId: 'run-1',
  rank: 2,
  iteration: 10,
  epoch: 0.25,
  loss: 2.3,
  lr: 0.1,
  density: 0.001,
  k: 100,
  selected: 98,
  bytesSent: 800,
  bytesReceived: 2400,
  wallMs: 1234.5,
  computeMs: 10,
  compressMs: 2,
  waitMs: 1,
  exchangeMs: 3,
  updateMs: 1,
  rho: 0.9,
};

/** One message of every type, with the payload it may carry. */
const samples: [Message, Uint8Array | null][] = [
  [{ type: 'hello', token: 'secret', protocolVersion: 1, capabilities: caps }, null],
  [
    {
      type: 'hello',
      token: 't',
      protocolVersion: 1,
      capabilities: {
        ...caps,
        adapter: { name: 'NVIDIA H200', vendor: 'nvidia', architecture: 'hopper' },
        limits: { maxBufferSize: 2 ** 31 },
      },
    },
    null,
  ],
  [{ type: 'welcome', workerId: 'w1', heartbeatMs: 2000, silenceMs: 10000, maxFrameBytes: 1 << 29 }, null],
  [{ type: 'refused', reason: 'wrong token', code: 4401 }, null],
  [{ type: 'heartbeat', time: 1.7e12 }, null],
  [{ type: 'assign', runId: 'run-1', rank: 0, worldSize: 4, config: { any: ['json', 1, null] } }, null],
  [
    { type: 'assign', runId: 'run-1', rank: 3, worldSize: 4, config: {}, resume: { iteration: 400 } },
    new Uint8Array([1, 2, 3]),
  ],
  [{ type: 'cancel', runId: 'run-1', reason: 'user' }, null],
  [{ type: 'metrics', kind: 'iteration', records: [iteration] }, null],
  [
    {
      type: 'metrics',
      kind: 'evaluation',
      records: [{ runId: 'r', iteration: 5, epoch: 1, wallMs: 9, testLoss: 0.3, accuracy: 0.91 }],
    },
    null,
  ],
  [
    {
      type: 'metrics',
      kind: 'layerStats',
      records: [
        {
          runId: 'r',
          iteration: 5,
          layer: 'conv1/kernel',
          d: 864,
          k: 1,
          selected: 1,
          threshold: null,
          rho: 0.99,
          rhoTopk: 0.98,
          boundGeneral: 0.998,
          boundGaussian: 0.997,
          overlap: 1,
          mean: 0,
          std: 1,
          skewness: 0.1,
          excessKurtosis: 3,
        },
      ],
    },
    null,
  ],
  [
    {
      type: 'metrics',
      kind: 'histogram',
      records: [
        {
          runId: 'r',
          iteration: 0,
          layer: 'model',
          min: -1,
          max: 1,
          counts: [1, 2, 3],
          mean: 0,
          std: 0.5,
          skewness: 0,
          excessKurtosis: 0,
        },
      ],
    },
    null,
  ],
  [{ type: 'log', level: 'warn', message: 'ünïcødé ✓ 🚀', runId: 'run-1', time: 5 }, null],
  [{ type: 'log', level: 'info', message: 'no run', runId: null }, null],
  [{ type: 'status', runId: 'run-1', state: 'failed', reason: 'out of memory' }, null],
  [{ type: 'checkpoint', runId: 'run-1', rank: 1, iteration: 200 }, new Uint8Array(1000).fill(7)],
  [{ type: 'collective', runId: 'run-1', op: 'allgather', round: 0, rank: 1 }, new Uint8Array([9, 8, 7])],
  [{ type: 'collective', runId: 'run-1', op: 'broadcast', round: 7, rank: 2 }, null],
  [
    {
      type: 'collectiveResult',
      runId: 'run-1',
      round: 3,
      op: 'allreduce',
      sizes: [8, 8],
      waitMs: 0.5,
    },
    new Uint8Array(new Float32Array([1.5, -2]).buffer),
  ],
  [
    { type: 'collectiveFailed', runId: 'run-1', round: 3, op: 'allgather', reason: 'rank 2 (worker w3) was lost' },
    null,
  ],
];

/** A frame with a given header object (any JSON) and payload, bypassing encodeFrame's checks. */
function rawFrame(header: unknown, payload = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(4 + h.length + payload.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  out.set(payload, 4 + h.length);
  return out;
}

function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

function expectCode(fn: () => unknown, code: ProtocolErrorCode, message: RegExp): void {
  const e = protocolError(fn);
  expect(e.code).toBe(code);
  expect(e.message).toMatch(message);
}

describe('frame codec', () => {
  it('round-trips every message type, with and without payloads', () => {
    for (const [message, payload] of samples) {
      const frame = encodeFrame(message, payload);
      const { header, payload: out, payloadBytes } = decodeFrame(frame);
      expect(header).toEqual(message);
      expect(payloadBytes).toBe(payload?.byteLength ?? 0);
      expect(Array.from(joinParts(out))).toEqual(Array.from(payload ?? []));
      // Parts (sent as fragments) concatenate to the same frame, the payload uncopied; read back as fragments,
      // the payload is the same part.
      const parts = encodeFrameParts(message, payload);
      if (payload) expect(parts[1]).toBe(payload);
      expect(Buffer.concat(parts)).toEqual(Buffer.from(frame));
      const fromParts = decodeFrame(parts);
      expect(fromParts.header).toEqual(message);
      expect(fromParts.payload).toEqual(payload ? [payload] : []);
      if (payload) expect(fromParts.payload[0]).toBe(payload);
    }
  });

  it('reads frames at any offset of a larger buffer, and payload parts in order', () => {
    const message: Message = { type: 'collective', runId: 'r', op: 'allgather', round: 1, rank: 0 };
    const frame = encodeFrame(message, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])]);
    const big = new Uint8Array(frame.length + 13);
    big.set(frame, 5);
    const { header, payload } = decodeFrame(big.subarray(5, 5 + frame.length));
    expect(header).toEqual(message);
    expect(payload).toHaveLength(1);
    expect(Array.from(joinParts(payload))).toEqual([1, 2, 3]);
  });

  it('reads a frame split into fragments anywhere, even inside the length or the header', () => {
    const message: Message = { type: 'checkpoint', runId: 'run-7', rank: 1, iteration: 3 };
    const payload = Uint8Array.from({ length: 50 }, (_, i) => i);
    const frame = encodeFrame(message, payload);
    for (let a = 0; a <= frame.length; a += 3) {
      for (let b = a; b <= frame.length; b += 7) {
        const fragments = [frame.slice(0, a), frame.slice(a, b), frame.slice(b)];
        const decoded = decodeFrame(fragments);
        expect(decoded.header).toEqual(message);
        expect(Array.from(joinParts(decoded.payload))).toEqual(Array.from(payload));
        expect(decoded.payload.every((p) => p.byteLength > 0)).toBe(true);
      }
    }
    expectCode(() => decodeFrame([frame.slice(0, 2), frame.slice(2, 3)]), 'frame-too-short', /3 bytes/);
  });

  it('carries non-finite record numbers (a diverged loss) as numbers', () => {
    const records = [{ ...iteration, loss: NaN, rho: Infinity, rhoTopk: -Infinity }];
    const { header } = decodeFrame(encodeFrame({ type: 'metrics', kind: 'iteration', records }));
    expect(header.type === 'metrics' && header.records[0]).toMatchObject({
      loss: NaN,
      rho: Infinity,
      rhoTopk: -Infinity,
    });
  });

  it('reads only the messages of the given direction', () => {
    const welcome = encodeFrame(samples[2]![0]);
    expect(decodeFrame(welcome, 'hub').header.type).toBe('welcome');
    expectCode(() => decodeFrame(welcome, 'worker'), 'header-schema', /'welcome' is not a message a worker sends/);
    const hello = encodeFrame(samples[0]![0]);
    expectCode(() => decodeFrame(hello, 'hub'), 'header-schema', /'hello' is not a message a hub sends/);
    expect(decodeFrame(encodeFrame({ type: 'heartbeat', time: 1 }), 'hub').header.type).toBe('heartbeat');
  });

  it('says what is wrong with a bad frame', () => {
    const hb = { type: 'heartbeat', time: 1, payloadBytes: 0 };
    expectCode(() => decodeFrame(new Uint8Array([1, 0])), 'frame-too-short', /2 bytes is shorter/);
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(0, MAX_HEADER_BYTES + 1, true);
    expectCode(() => decodeFrame(huge), 'header-too-large', /exceeds/);
    const long = rawFrame(hb);
    new DataView(long.buffer).setUint32(0, long.length, true);
    expectCode(() => decodeFrame(long), 'header-length', /runs past the end/);
    expectCode(() => decodeFrame(rawFrame(null, undefined, '\u0000')), 'header-json', /not valid JSON/);
    const badUtf8 = rawFrame(hb);
    badUtf8[6] = 0xff;
    expectCode(() => decodeFrame(badUtf8), 'header-utf8', /not valid UTF-8/);
    expectCode(() => decodeFrame(rawFrame(null, undefined, '{"type":')), 'header-json', /not valid JSON/);
    expectCode(() => decodeFrame(rawFrame([1, 2])), 'header-schema', /not a JSON object/);
    expectCode(() => decodeFrame(rawFrame({ type: 'heartbeat', time: 1 })), 'header-schema', /payloadBytes must be/);
    expectCode(() => decodeFrame(rawFrame({ ...hb, payloadBytes: -1 })), 'header-schema', /payloadBytes must be/);
    expectCode(
      () => decodeFrame(rawFrame({ type: 'nope', payloadBytes: 0 })),
      'header-schema',
      /unknown message type 'nope'/,
    );
    expectCode(() => decodeFrame(rawFrame({ payloadBytes: 0 })), 'header-schema', /unknown message type '\(no type\)'/);
    expectCode(
      () =>
        decodeFrame(rawFrame({ type: 'collective', runId: 'r', op: 'allgather', round: -1, rank: 0, payloadBytes: 0 })),
      'header-schema',
      /'collective' header fails the schema: round:/,
    );
    expectCode(
      () => decodeFrame(rawFrame({ type: 'hello', token: 't', protocolVersion: 1, payloadBytes: 0 })),
      'header-schema',
      /capabilities/,
    );
    const collective = { type: 'collective', runId: 'r', op: 'allgather', round: 0, rank: 0 };
    expectCode(
      () => decodeFrame(rawFrame({ ...collective, payloadBytes: 5 }, new Uint8Array(4))),
      'payload-length',
      /declares a 5-byte payload but the frame carries 4 bytes/,
    );
    expectCode(
      () => decodeFrame(rawFrame({ ...collective, payloadBytes: 3 }, new Uint8Array(4))),
      'payload-length',
      /declares a 3-byte payload but the frame carries 4/,
    );
    expectCode(
      () => decodeFrame(rawFrame({ ...hb, payloadBytes: 2 }, new Uint8Array(2))),
      'unexpected-payload',
      /'heartbeat' message carries no payload/,
    );
    expectCode(
      () => encodeFrame({ type: 'log', level: 'info', message: 'x' }, new Uint8Array(1)),
      'unexpected-payload',
      /'log' message carries no payload \(got 1 bytes\)/,
    );
  });

  it('never throws anything but a ProtocolError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, prefix) => {
        const frame = prefix ? rawFrame(null, bytes, '{"type":"heartbeat","time":1,"payloadBytes":0}') : bytes;
        try {
          decodeFrame(frame);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('UTF-8', () => {
  it('encodes like TextEncoder, lone surrogates included', () => {
    const strings = ['', 'plain', 'é', '€ and 𝄞', '🚀'.repeat(3), '\ud800x', 'x\udc00', '\u07ff\u0800\uffff'];
    for (const s of strings) expect(Array.from(encodeUtf8(s))).toEqual(Array.from(new TextEncoder().encode(s)));
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const bytes = encodeUtf8(s);
        expect(Array.from(bytes)).toEqual(Array.from(new TextEncoder().encode(s)));
        expect(decodeUtf8(bytes)).toBe(new TextDecoder().decode(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects ill-formed UTF-8', () => {
    const bad = [
      [0x80],
      [0xc0, 0x80],
      [0xc2],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf0, 0x80, 0x80, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
    ];
    for (const b of bad) expect(decodeUtf8(new Uint8Array(b))).toBeNull();
    expect(decodeUtf8(new Uint8Array(20000).fill(0x61))).toBe('a'.repeat(20000));
  });
});

describe('run config', () => {
  it('reads a RunSpec with the experiment schema and names what is wrong', () => {
    const experiment = experimentSchema.parse(syntheticExperiment({ model: 'logreg', dataset: { name: 'mnist' } }));
    const spec = { experiment, arm: experiment.arms[0], seed: 1 };
    // The assign's config is JSON: what arrives is the spec after a trip through a frame.
    const frame = encodeFrame({ type: 'assign', runId: 'r', rank: 0, worldSize: 1, config: spec });
    const { header } = decodeFrame(frame);
    expect(parseRunConfig(header.type === 'assign' ? header.config : null)).toEqual(spec);
    expectCode(
      () => parseRunConfig({ ...spec, experiment: { ...experiment, model: 'resnet20' } }),
      'run-config',
      /invalid run config: experiment.dataset.name: model resnet20 trains on cifar10/,
    );
    expectCode(() => parseRunConfig({ experiment, arm: experiment.arms[0] }), 'run-config', /seed/);
  });
});
