// The bus joins the stages. Embedded mode uses the in-process bus (memory.ts);
// distributed mode uses Kafka (kafka.ts). Stages see only this interface.
import type { TwEvent } from '../event.js';

export interface BusMessage<T = TwEvent> {
  /** Partitioning key (host, alert group, …); null lets the bus choose. */
  key: string | null;
  value: T;
  /**
   * Optional id of the value (event.id), carried beside it so a consumer can
   * use it without parsing the value (the Elasticsearch sink's document _id).
   */
  id?: string;
  /**
   * Optional: the value as JSON. A publisher that already serialized the value
   * may set it (it must equal JSON.stringify(value)) to spare the bus doing it
   * again; a `raw` subscriber finds the record's bytes here.
   */
  json?: string | Buffer;
}

export interface TopicNames {
  raw: string;
  events: string;
  alerts: string;
  dlq: string;
}

export function topicNames(prefix = 'trailwatch'): TopicNames {
  return { raw: `${prefix}.raw`, events: `${prefix}.events`, alerts: `${prefix}.alerts`, dlq: `${prefix}.dlq` };
}

export interface ConsumeOptions<T = TwEvent> {
  topics: string[];
  /** Consumer group: members of one group share the topic's records. */
  group: string;
  /**
   * Called with a batch from one topic. The records count as consumed only
   * when the promise resolves (at-least-once); a rejection redelivers them.
   */
  handler: (batch: BusMessage<T>[], topic: string) => Promise<void>;
  /**
   * Stateful consumers (windowed rules): whenever partitions are assigned
   * (start, restart, rebalance), redeliver at least the records of the last
   * rewindMs too, so windows are rebuilt. The handler must tolerate seeing a
   * record twice (deterministic alert ids). Buses without history ignore it.
   * A function is asked at each assignment (windows change on hot reload).
   */
  rewindMs?: number | (() => number);
  /**
   * The handler reads each record's `json` (its bytes) and `id` and seldom
   * `value`: a bus may then skip parsing and parse a value only when it is
   * read (where a value that is not JSON throws instead of going to the
   * dead-letter topic). Buses without serialized records ignore it.
   */
  raw?: boolean;
}

export interface Subscription {
  stop(): Promise<void>;
}

export interface Bus {
  readonly kind: string;
  /**
   * How many publishes of one ordered stream (a TCP connection) may be pending
   * at once. A remote bus wants several, so its round trip does not cap one
   * sender; the in-process bus wants 1, so its consumers run between a
   * sender's chunks and the queue stays short (events die young).
   */
  readonly publishDepth: number;
  /**
   * Append records to a topic. The promise resolves once the bus holds them;
   * while the bus is full it stays pending, which is how backpressure reaches senders.
   */
  publish<T = TwEvent>(topic: string, messages: BusMessage<T>[]): Promise<void>;
  subscribe<T = TwEvent>(opts: ConsumeOptions<T>): Promise<Subscription>;
  /** Resolves when everything published so far has been handled by every subscriber group. */
  drain(): Promise<void>;
  /**
   * Optional, for buses that are not durable on publish (the in-process
   * one): resolves once the records published to `topic` so far, and what
   * their consumers published in turn, have been handled, so a source can
   * acknowledge input only when the sinks hold it. A bus whose publish is
   * already durable (Kafka, acks=all) leaves it out.
   */
  settled?(topic: string, timeoutMs?: number): Promise<void>;
  /** Consumers whose batch is being redelivered now (redelivery.ts), for /healthz. */
  health?(): { ok: boolean; failing: unknown[] };
  close(): Promise<void>;
}
