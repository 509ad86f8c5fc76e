/**
 * Ownership, the rule the roles table cannot say alone: a `sales` user changes only the leads,
 * accounts and opportunities that it owns or that have no owner, and gives an owner to nothing
 * but itself; `sales_manager` and `admin` change and assign anything; `marketing` works leads
 * whoever owns them (nurturing is its job). The rule is checked against the entity's state as
 * the command handler folds it, just before deciding, so no read model lag can slip past it.
 */
import { ForbiddenError } from '../../core/errors';
import type { GraphQLContext } from './context';
import { hasAnyRole, type Role } from './roles';

const ANY_OWNER: readonly Role[] = ['sales_manager', 'admin'];

/** True when only ownership lets this caller touch the entity: it is sales, not more. */
const boundByOwnership = (context: GraphQLContext, unboundRoles: readonly Role[]): boolean =>
  !hasAnyRole(context.identity, unboundRoles);

/**
 * The hook for `mutate()`/`runCommand()`: refuses the command when the caller is bound by
 * ownership and the entity belongs to someone else. `unboundRoles` are the roles free of the
 * rule for this kind of entity (managers and admins; for leads, marketing too).
 */
export const ownedByCaller =
  (context: GraphQLContext, entity: string, unboundRoles: readonly Role[] = ANY_OWNER) =>
  (state: unknown): void => {
    if (!boundByOwnership(context, unboundRoles)) return;
    const owner = (state as { ownerId?: string | null }).ownerId;
    if (owner && owner !== context.identity!.actor) {
      throw new ForbiddenError(
        `changing this ${entity}`,
        unboundRoles,
        `This ${entity} belongs to ${owner}: only its owner, or one of the roles ${unboundRoles.join(', ')}, may change it`,
      );
    }
  };

/** A sales user names no owner but itself (absent means itself, as the API defaults it). */
export const requireOwnOwnerId = (
  context: GraphQLContext,
  ownerId: string | null | undefined,
  entity: string,
  unboundRoles: readonly Role[] = ANY_OWNER,
): void => {
  if (ownerId === undefined || ownerId === null || !boundByOwnership(context, unboundRoles)) return;
  if (ownerId !== context.identity!.actor) {
    throw new ForbiddenError(
      `assigning a ${entity} to someone else`,
      unboundRoles,
      `Only ${unboundRoles.join(', ')} may give a ${entity} to another owner; you may take an unowned one yourself`,
    );
  }
};

/** Leads: marketing, sales managers and admins work any lead. */
export const LEAD_UNBOUND: readonly Role[] = ['marketing', 'sales_manager', 'admin'];
