/**
 * Opens many sealed values on a second thread, so that a rebuild decrypts the next page of events
 * while the main thread applies the current one. Opening one value costs about 8 µs, most of it
 * node:crypto building a decipher object, which nothing can share between values: on a rebuild
 * that is about a tenth of the time per event (bench/sealing.ts, `npm run replay`). Only large
 * batches come here (see `protectedEventStore`); a single live event opens on the main thread.
 *
 * The thread runs plain CommonJS given as text (no TypeScript loader needed in the worker, the
 * same under tsx, vitest and the built server) and does exactly what `open` in cipher.ts does.
 * It is started on first use, and keeps the process alive only while a batch is being opened.
 */
import { Worker } from 'node:worker_threads';
import { threadExecArgv } from '../core/threadRequests';

export interface SealedValue {
  key: Buffer;
  sealed: string;
  associatedData: string;
}

/**
 * Each value's personal fields (its plaintext, which is JSON, parsed; null when it did not open),
 * and by index the message of the error that opening a value threw.
 */
export interface OpenedValues {
  personals: ReadonlyArray<Record<string, unknown> | null>;
  errors: Readonly<Record<number, string>>;
}

// The plaintexts go back as one JSON array (a failed value: null, its error apart): one string to
// pass and one JSON.parse on the main thread instead of an object and a parse per value.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
const IV = 12, TAG = 16;
parentPort.on('message', ({ id, keys, sealed, associatedData }) => {
  const errors = {};
  const texts = sealed.map((text, index) => {
    try {
      const bytes = Buffer.from(text, 'base64url');
      if (bytes.length < IV + TAG) throw new Error('sealed value too short');
      const key = Buffer.from(keys.buffer, keys.byteOffset + index * 32, 32);
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV));
      decipher.setAAD(Buffer.from(associatedData[index], 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG));
      const body = decipher.update(bytes.subarray(IV, bytes.length - TAG));
      decipher.final();
      return body.toString('utf8');
    } catch (error) {
      errors[index] = String(error && error.message || error);
      return 'null';
    }
  });
  keys.fill(0);
  parentPort.postMessage({ id, json: '[' + texts.join(',') + ']', errors });
});
parentPort.postMessage({ ready: true });
`;

export class OpenerThread {
  private worker: Worker | undefined;
  private isReady = false;
  private readyWaiters: Array<() => void> = [];
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (results: OpenedValues) => void; reject: (error: unknown) => void }>();

  /**
   * Whether the thread was started (`warm`, or a first `open`). It may not have said it is ready
   * yet: a batch posted meanwhile waits in its queue and is opened as soon as it runs. Until the
   * thread is started a reader opens on its own thread, as starting it takes longer than a page.
   */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Starts the thread; resolves once it is ready. */
  warm(): Promise<void> {
    const worker = this.start();
    if (this.isReady) return Promise.resolve();
    // Held alive until it is ready: whoever waits may have nothing else keeping the process up.
    worker.ref();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Opens the values in order; rejects only when the thread itself fails (each value's own failure is in its result). */
  open(values: readonly SealedValue[]): Promise<OpenedValues> {
    const worker = this.start();
    const id = this.nextId++;
    // One buffer for the keys, moved (not copied) to the thread, which zeroes it when done.
    const keys = new Uint8Array(values.length * 32);
    values.forEach((value, index) => keys.set(value.key, index * 32));
    return new Promise<OpenedValues>((resolve, reject) => {
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(id, { resolve, reject });
      worker.postMessage(
        { id, keys, sealed: values.map((value) => value.sealed), associatedData: values.map((value) => value.associatedData) },
        [keys.buffer],
      );
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.isReady = false;
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // None of the parent's options but the profiler's: its loaders (tsx under npm scripts and
    // tests) are not needed by plain CommonJS, and one of them held the process open after the
    // thread was terminated.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: threadExecArgv() });
    worker.on('message', (message: { ready: true } | { id: number; json: string; errors: Record<number, string> }) => {
      if ('ready' in message) {
        if (this.worker === worker) this.isReady = true;
        if (this.waiting.size === 0) worker.unref();
        for (const resolve of this.readyWaiters.splice(0)) resolve();
        return;
      }
      const { id, json, errors } = message;
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      if (this.waiting.size === 0) worker.unref();
      if (!waiter) return;
      try {
        waiter.resolve({ personals: JSON.parse(json) as Array<Record<string, unknown> | null>, errors });
      } catch (error) {
        waiter.reject(error);
      }
    });
    const failAll = (error: unknown) => {
      if (this.worker === worker) {
        this.worker = undefined;
        this.isReady = false;
      }
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
      // Whoever waited for it to start reads on its own thread (it is not ready).
      for (const resolve of this.readyWaiters.splice(0)) resolve();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => {
      if (this.waiting.size > 0) failAll(new Error(`The thread opening personal data stopped (exit code ${code})`));
      else if (this.worker === worker) {
        this.worker = undefined;
        this.isReady = false;
      }
    });
    // Unref'd after the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
