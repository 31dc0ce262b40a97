// Keyset pagination in any order: rows sorted by (column, id), a page resuming strictly after
// the last (value, id) seen. Ties on the column are broken by id, so pages never repeat or skip
// a row, whatever is inserted meanwhile.
import type { Knex } from 'knex';
import { invalidInput } from '../errors.js';

export interface ListOrder<F extends string = string> {
  /** A field of the domain object (its column comes from the repository's sort columns). */
  field: F;
  desc?: boolean;
  /** The sort value (timestamps in ms) and id of the last row of the previous page. */
  after?: { value: string | number; id: string };
}

export function applyOrder<F extends string>(q: Knex.QueryBuilder, columns: Readonly<Record<F, string>>, order: ListOrder<F>): Knex.QueryBuilder {
  if (!Object.hasOwn(columns, order.field)) throw invalidInput('sort', `one of ${Object.keys(columns).join(', ')}`);
  const column = columns[order.field];
  const direction = order.desc ? 'desc' : 'asc';
  const beyond = order.desc ? '<' : '>';
  const a = order.after;
  if (a) q.where((w) => w.where(column, beyond, a.value).orWhere((x) => x.where(column, a.value).andWhere('id', beyond, a.id)));
  return q.orderBy([{ column, order: direction }, { column: 'id', order: direction }]);
}
