/**
 * Pacing dawn.node's polling (gpu/worker/gpus/dawnPolling.ts): which callbacks it paces, how long it
 * sleeps, and that a waiting thread sleeps instead of spinning. The CPU time saved on real read-backs
 * is measured by bench/gpu/gpuWorkerCheck.ts (too noisy to assert on two shared cores).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { acquireGpuDevice } from '../../gpu/webgpuDevice/device';
import {
  DEFAULT_POLL_PACING,
  isDawnPollCallback,
  paceDawnPolling,
  pollSleepMs,
} from '../../gpu/worker/gpus/dawnPolling';

let undo: (() => void) | null = null;
afterAll(() => undo?.());

describe('dawn.node polling', () => {
  test("only dawn.node's poll callbacks are paced: no JavaScript function, bound function or promise resolver", () => {
    let resolver: unknown;
    void new Promise((resolve) => (resolver = resolve));
    expect(isDawnPollCallback(() => {})).toBe(false);
    expect(isDawnPollCallback(function named() {}.bind(null))).toBe(false);
    expect(isDawnPollCallback(resolver)).toBe(false);
    expect(isDawnPollCallback(Math.random)).toBe(false); // native, but named
    expect(isDawnPollCallback('not a function')).toBe(false);
  });

  test('a wait spins for its first moments, then sleeps between polls, doubling up to a cap', () => {
    const p = DEFAULT_POLL_PACING;
    expect(pollSleepMs(0, 0, p)).toBe(0);
    expect(pollSleepMs(p.spinMs / 2, 0, p)).toBe(0);
    expect(pollSleepMs(p.spinMs, 0, p)).toBe(p.minSleepMs);
    expect(pollSleepMs(5, 1, p)).toBe(2 * p.minSleepMs);
    expect(pollSleepMs(50, 30, p)).toBe(p.maxSleepMs);
  });

  test("a wait's polls: a busy loop unpaced, a few hundred sleeps paced (a callback built like dawn.node's)", async () => {
    const waitMs = 150;
    const spinning = await dawnLikeWait(waitMs);
    undo = paceDawnPolling();
    const paced = await dawnLikeWait(waitMs);
    // Paced: the spin phase, then one poll per sleep of at least minSleepMs, mostly maxSleepMs.
    expect(paced.polls).toBeLessThan(waitMs / DEFAULT_POLL_PACING.maxSleepMs + 1000);
    expect(paced.polls).toBeLessThan(spinning.polls / 3);
    // The sleeps are in the kernel: the thread is off the CPU for most of the wait.
    if (paced.threadCpuMs !== null) expect(paced.threadCpuMs).toBeLessThan(0.5 * waitMs);
  });

  test('paced, read-backs on SwiftShader complete with the bytes written', async () => {
    const { device } = await acquireGpuDevice();
    undo ??= paceDawnPolling();
    const values = Float32Array.from({ length: 4096 }, (_, i) => i * 0.5);
    const source = device.createBuffer({
      size: values.byteLength,
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    const staging = device.createBuffer({
      size: values.byteLength,
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    });
    for (let round = 0; round < 3; round++) {
      device.queue.writeBuffer(source, 0, values);
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(source, 0, staging, 0, values.byteLength);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      expect(new Float32Array(staging.getMappedRange().slice(0))).toEqual(values);
      staging.unmap();
    }
    device.destroy();
  });
});

/** Polls the way dawn.node's AsyncRunner does (a nameless native-looking callback rescheduling itself) for `ms`. */
function dawnLikeWait(ms: number): Promise<{ polls: number; threadCpuMs: number | null }> {
  const cpu = threadCpuMs();
  return new Promise((resolve) => {
    let polls = 0;
    const end = performance.now() + ms;
    const poll: () => void = new Proxy(
      () => {
        polls++;
        if (performance.now() < end) globalThis.setImmediate(poll);
        else resolve({ polls, threadCpuMs: cpu === null ? null : threadCpuMs()! - cpu });
      },
      {
        get: (target, key, receiver) =>
          key === 'name' ? '' : key === 'length' ? 0 : Reflect.get(target, key, receiver),
      },
    );
    expect(isDawnPollCallback(poll)).toBe(true);
    globalThis.setImmediate(poll);
  });
}

/** Milliseconds this thread has run on a CPU (Linux), else null. */
function threadCpuMs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}
