/** GraphQL types shared by every slice: money, reasons, recorded events, pagination. */
import { IsInt, IsOptional, IsString, Length, Matches, Min } from 'class-validator';
import { Field, InputType, Int, ObjectType, type ClassType } from 'type-graphql';
import { DEFAULT_PAGE_SIZE, type Page } from '../../../projections/pagination';
import { ValidationError } from '../../core/errors';
import type { RecordedEvent } from '../../core/eventStore';
import { DateTimeScalar, DecimalScalar, JSONScalar } from './scalars';

@ObjectType()
export class Money {
  @Field(() => DecimalScalar)
  amount!: string;

  @Field(() => String, { description: 'ISO 4217 code, e.g. EUR' })
  currency!: string;
}

@InputType()
export class MoneyInput {
  @Field(() => DecimalScalar)
  @IsString()
  amount!: string;

  @Field(() => String, { description: 'ISO 4217 code, e.g. EUR' })
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be a three-letter ISO 4217 code such as EUR' })
  currency!: string;
}

@ObjectType()
export class Reason {
  @Field(() => String)
  code!: string;

  @Field(() => String)
  label!: string;
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor?: string;
}

@ObjectType('RecordedEvent', { description: 'One stored fact, with who recorded it, when, and why.' })
export class RecordedEventType {
  @Field(() => String)
  id!: string;

  @Field(() => String)
  streamId!: string;

  @Field(() => Int)
  revision!: number;

  @Field(() => String, { description: 'Position in the global log (opaque, ordered by the store)' })
  position!: string;

  @Field(() => String)
  type!: string;

  @Field(() => JSONScalar)
  data!: unknown;

  @Field(() => DateTimeScalar)
  recordedAt!: Date;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => String)
  actor!: string;

  @Field(() => String)
  correlationId!: string;

  @Field(() => String)
  causationId!: string;

  @Field(() => Int)
  schemaVersion!: number;

  @Field(() => String, { nullable: true })
  commandType?: string;

  @Field(() => String, { nullable: true })
  idempotencyKey?: string;

  @Field(() => String, { nullable: true, description: 'Digest of the command input, set with an idempotency key' })
  inputHash?: string;
}

export const toRecordedEventType = (event: RecordedEvent): RecordedEventType => ({
  id: event.id,
  streamId: event.streamId,
  revision: event.revision,
  position: event.position,
  type: event.type,
  data: event.data,
  recordedAt: new Date(event.metadata.recordedAt),
  occurredAt: new Date(event.metadata.occurredAt),
  actor: event.metadata.actor,
  correlationId: event.metadata.correlationId,
  causationId: event.metadata.causationId,
  schemaVersion: event.metadata.schemaVersion,
  commandType: event.metadata.commandType,
  idempotencyKey: event.metadata.idempotencyKey,
  inputHash: event.metadata.inputHash,
});

/** Said of the marker on every object that holds a person's data (Lead, Contact, Opportunity). */
export const PERSONAL_DATA_ERASED_DESCRIPTION =
  "True once this person's personal data was erased (GDPR art. 17): the personal fields read null";

/** The longest a name, code or other one-line text field may be. */
export const SHORT = 200;
/** The longest a free-text field (notes, descriptions) may be. */
export const LONG = 5000;

export const MAX_PAGE_SIZE = 200;

/** The page size a list query asked for, checked against the contract's limit. */
export const pageSize = (first: number | null | undefined): number => {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (size < 0 || size > MAX_PAGE_SIZE) {
    throw new ValidationError([{ field: 'first', message: `must be between 0 and ${MAX_PAGE_SIZE}` }]);
  }
  return size;
};

/** A read model's page as a Relay connection, each view mapped to its GraphQL node. */
export const connection = <View, Node>(page: Page<View>, toNode: (view: View) => Node): Connection<Node> => ({
  edges: page.nodes.map((view, index) => ({ cursor: page.cursors[index]!, node: toNode(view) })),
  pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
  totalCount: page.totalCount,
});

export const enumOf = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value, value])) as { [K in T]: K };

@InputType({ description: 'Fields every mutation input shares (never used on its own)' })
export abstract class MutationInput {
  @Field(() => String, {
    nullable: true,
    description: 'Replaying the same key with the same input returns the first result and records nothing',
  })
  @IsOptional()
  @Length(1, 200)
  idempotencyKey?: string;
}

@InputType({ description: 'Fields every input about an existing entity shares (never used on its own)' })
export abstract class RevisedMutationInput extends MutationInput {
  @Field(() => Int, { nullable: true, description: 'The revision you last read; a stale one is a CONFLICT' })
  @IsOptional()
  @IsInt()
  @Min(0)
  expectedRevision?: number;
}

export interface Connection<Node> {
  edges: { cursor: string; node: Node }[];
  pageInfo: PageInfo;
  totalCount: number;
}

/** A Relay connection type `<name>Connection` with its `<name>Edge`, around any node type. */
export const connectionOf = <Node extends object>(
  name: string,
  node: ClassType<Node>,
  description?: string,
): ClassType<Connection<Node>> => {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String) cursor!: string;
    @Field(() => node) node!: Node;
  }

  @ObjectType(`${name}Connection`, { description })
  class NodeConnection {
    @Field(() => [Edge]) edges!: Edge[];
    @Field(() => PageInfo) pageInfo!: PageInfo;
    @Field(() => Int) totalCount!: number;
  }
  return NodeConnection;
};

/**
 * A mutation payload type `name` carrying one entity under `field`; each slice builds its
 * `<Mutation>Payload` types with it, as the contract names them.
 */
export const payloadOf = <Node extends object>(name: string, field: string, node: ClassType<Node>): ClassType => {
  @ObjectType(name)
  class Payload {}
  Field(() => node)(Payload.prototype, field);
  return Payload;
};
