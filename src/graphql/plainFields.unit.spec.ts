/**
 * Fields read as plain properties (schema.ts, `readPlainFieldsDirectly`) are only those with no
 * check to run: a field with `@Authorized`, a middleware, a field resolver or a name of its own in
 * the schema keeps type-graphql's resolver, interpreted or compiled.
 */
import 'reflect-metadata';
import { execute, isObjectType, parse, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { Authorized, buildSchema, Field, FieldResolver, ObjectType, Query, Resolver, UseMiddleware } from 'type-graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPlainFieldsDirectly } from './schema';

const middlewareCalls: string[] = [];

@ObjectType()
class Sheet {
  @Field(() => String)
  open!: string;

  @Authorized(['sales_manager'])
  @Field(() => String, { nullable: true })
  narrow!: string;

  @UseMiddleware(({ info }, next) => {
    middlewareCalls.push(info.fieldName);
    return next();
  })
  @Field(() => String)
  counted!: string;

  @Field(() => String, { name: 'shown' })
  keptInClass!: string;

  @Field(() => String)
  derived!: string;
}

/** Its fields and those it inherits, which type-graphql keeps on Sheet's metadata. */
@ObjectType()
class WideSheet extends Sheet {
  @Field(() => String)
  margin!: string;
}

@Resolver(() => Sheet)
class SheetResolver {
  @Query(() => WideSheet)
  wideSheet(): WideSheet {
    return Object.assign(new WideSheet(), { open: 'open', narrow: 'narrow', counted: 'counted', keptInClass: 'kept', derived: 'stored', margin: 'margin' });
  }

  @Query(() => Sheet)
  sheet(): Sheet {
    return Object.assign(new Sheet(), { open: 'open', narrow: 'narrow', counted: 'counted', keptInClass: 'kept', derived: 'stored' });
  }

  @FieldResolver(() => String)
  derived(): string {
    return 'resolved';
  }
}

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildSchema({
    resolvers: [SheetResolver],
    orphanedTypes: [WideSheet],
    authChecker: ({ context }, roles) => roles.every((role) => (context as { roles: string[] }).roles.includes(role)),
    authMode: 'null',
    validate: false,
  });
  readPlainFieldsDirectly(schema);
});

const QUERY = parse(`{ sheet { open narrow counted shown derived } }`);

describe('fields read as plain properties', () => {
  it('leaves only the plain field to the default resolver', () => {
    const sheet = schema.getType('Sheet');
    if (!isObjectType(sheet)) throw new Error('Sheet is not an object type');
    expect(Object.fromEntries(Object.entries(sheet.getFields()).map(([name, field]) => [name, field.resolve !== undefined]))).toEqual({
      open: false,
      narrow: true,
      counted: true,
      shown: true,
      derived: true,
    });
  });

  it('reads the plain fields a type inherits directly too, and keeps the checks of the others', () => {
    const wide = schema.getType('WideSheet');
    if (!isObjectType(wide)) throw new Error('WideSheet is not an object type');
    const resolved = Object.fromEntries(Object.entries(wide.getFields()).map(([name, field]) => [name, field.resolve !== undefined]));
    expect(resolved).toEqual({ open: false, narrow: true, counted: true, shown: true, derived: true, margin: false });
  });

  it('runs the inherited role check and middleware', async () => {
    const compiled = compileQuery(schema, parse(`{ wideSheet { open narrow counted margin } }`));
    if (!isCompiledQuery(compiled)) throw new Error('not compiled');
    middlewareCalls.length = 0;
    expect((await compiled.query(undefined, { roles: ['sales'] }, {})).data).toEqual({ wideSheet: { open: 'open', narrow: null, counted: 'counted', margin: 'margin' } });
    expect(middlewareCalls).toEqual(['counted']);
  });

  for (const [engine, run] of [
    ['graphql-js', (roles: string[]) => execute({ schema, document: QUERY, contextValue: { roles } })],
    [
      'graphql-jit',
      (roles: string[]) => {
        const compiled = compileQuery(schema, QUERY);
        if (!isCompiledQuery(compiled)) throw new Error('not compiled');
        return compiled.query(undefined, { roles }, {});
      },
    ],
  ] as const) {
    it(`keeps the role check, the middleware, the renamed and the resolved field (${engine})`, async () => {
      middlewareCalls.length = 0;
      expect((await run(['sales'])).data).toEqual({ sheet: { open: 'open', narrow: null, counted: 'counted', shown: 'kept', derived: 'resolved' } });
      expect(middlewareCalls).toEqual(['counted']);
      expect((await run(['sales_manager'])).data).toEqual({ sheet: { open: 'open', narrow: 'narrow', counted: 'counted', shown: 'kept', derived: 'resolved' } });
    });
  }
});
