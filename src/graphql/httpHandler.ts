/**
 * `POST /graphql` with a JSON body, served on node:http without express: this is every request
 * a GraphQL client sends, and express's router, body parser and `res.send` cost more than Apollo
 * itself on a small mutation (issue 11). Whatever does not look like such a request (GET, another
 * path or content type, a compressed body...) is left to express, which serves it as before.
 *
 * What express did for these requests is done here the same way: the body limit (413
 * PAYLOAD_TOO_LARGE, checked on the declared length before reading and on the bytes read),
 * malformed or non-object JSON (400 BAD_REQUEST), an empty body read as `{}`, a UTF-8 byte order
 * mark ignored; then Apollo's own checks (CSRF prevention, GraphQL Armor, request guards) as
 * before. The one difference: no ETag on these answers (a POST's answer is never cached).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';

export interface GraphqlHttpHandler {
  /** Whether `handle` serves this request; when not, express does. */
  accepts(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

export interface GraphqlHttpOptions<Context extends BaseContext> {
  apollo: ApolloServer<Context>;
  /** The largest body accepted, in bytes. */
  maxBodyBytes: number;
  context(req: IncomingMessage, res: ServerResponse): Promise<Context>;
  /** Told first, as the request arrives (logs and metrics time it from here). */
  begin(res: ServerResponse): void;
  /** Told when Apollo itself failed (it answers every GraphQL error; this is a bug). */
  onInternalError(error: unknown): void;
}

export const GRAPHQL_PATH = '/graphql';

/** body-parser's `application/json` as clients send it: UTF-8, the default for JSON. */
const PLAIN_JSON = /^application\/json\s*(;\s*charset\s*=\s*("?)utf-8\2\s*)?$/i;
/** JSON's own white space, which may precede the first character (body-parser's strict mode). */
const FIRST_CHARACTER = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/;

const TOO_LARGE = JSON.stringify({ errors: [{ message: 'Request body too large', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
const MALFORMED = JSON.stringify({ errors: [{ message: 'Malformed JSON in request body', extensions: { code: 'BAD_REQUEST' } }] });
const INTERNAL = JSON.stringify({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });

export const graphqlHttpHandler = <Context extends BaseContext>(options: GraphqlHttpOptions<Context>): GraphqlHttpHandler => {
  const { apollo, maxBodyBytes } = options;

  const execute = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const url = req.url!;
    const query = url.indexOf('?');
    const answer = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search: query < 0 ? '' : url.slice(query), body },
      context: () => options.context(req, res),
    });
    for (const [key, value] of answer.headers) res.setHeader(key, value);
    res.statusCode = answer.status ?? 200;
    if (answer.body.kind === 'complete') {
      res.setHeader('content-length', Buffer.byteLength(answer.body.string));
      res.end(answer.body.string);
      return;
    }
    // Incremental delivery (@defer): not enabled by this schema, handled as Apollo's integrations do.
    for await (const chunk of answer.body.asyncIterator) res.write(chunk);
    res.end();
  };

  return {
    accepts(req) {
      if (req.method !== 'POST') return false;
      const url = req.url ?? '';
      if (!(url === GRAPHQL_PATH || (url.startsWith(GRAPHQL_PATH) && url[GRAPHQL_PATH.length] === '?'))) return false;
      const { headers } = req;
      // Without either header express.json() reads no body at all: left to it, to answer as before.
      if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) return false;
      const encoding = headers['content-encoding'];
      return (encoding === undefined || encoding.toLowerCase() === 'identity') && PLAIN_JSON.test(headers['content-type'] ?? '');
    },

    handle(req, res) {
      options.begin(res);
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBodyBytes) {
        answerPlainly(res, 413, TOO_LARGE);
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      let refused = false;
      req.on('data', (chunk: Buffer) => {
        if (refused) return;
        received += chunk.length;
        if (received > maxBodyBytes) {
          refused = true;
          chunks.length = 0;
          answerPlainly(res, 413, TOO_LARGE);
        } else {
          chunks.push(chunk);
        }
      });
      req.on('end', () => {
        if (refused) return;
        const body = parseJsonBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
        if (body === MALFORMED_BODY) {
          answerPlainly(res, 400, MALFORMED);
          return;
        }
        execute(req, res, body).catch((error: unknown) => {
          options.onInternalError(error);
          if (res.headersSent) res.destroy();
          else answerPlainly(res, 500, INTERNAL);
        });
      });
    },
  };
};

const MALFORMED_BODY = Symbol('malformed JSON');

/** As express.json() reads it: strict (an object or an array), `{}` when empty. */
const parseJsonBody = (bytes: Buffer): unknown => {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  const first = FIRST_CHARACTER.exec(text)?.[1];
  if (first !== '{' && first !== '[') return MALFORMED_BODY;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return MALFORMED_BODY;
  }
};

const answerPlainly = (res: ServerResponse, status: number, body: string): void => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
};

/** A size as CRM_MAX_BODY gives it ('1mb', '500kb', '2048'), in bytes, as express.json() reads it. */
export const parseByteSize = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!match) throw new TypeError(`not a size: ${JSON.stringify(text)}`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'];
  return Math.floor(Number(match[1]) * unit);
};
