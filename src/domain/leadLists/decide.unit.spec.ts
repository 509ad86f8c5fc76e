import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { createLeadListDecider, MAX_LEADS_PER_LIST_COMMAND } from './decide';
import type { LeadListEvent } from './events';

const given = deciderSpecification(createLeadListDecider());
const listId = 'list-1';
const created: LeadListEvent = { type: 'LeadListCreated', data: { listId, name: 'Fira Barcelona 2026', kind: 'STATIC' } };
const dynamic: LeadListEvent = {
  type: 'LeadListCreated',
  data: { listId, name: 'Hot web leads', kind: 'DYNAMIC', filter: { source: 'WEB_FORM', minScore: 60 } },
};
const added: LeadListEvent = { type: 'LeadsAddedToList', data: { listId, leadIds: ['a', 'b'] } };
const archived: LeadListEvent = { type: 'LeadListArchived', data: { listId } };

describe('CreateLeadList', () => {
  it('creates a static list with its first leads, each once', () => {
    given([])
      .when({ type: 'CreateLeadList', data: { listId, name: ' Fira Barcelona 2026 ', kind: 'STATIC', leadIds: ['a', 'b', 'a'] } })
      .then([created, added]);
  });

  it('creates a dynamic list from a saved filter', () => {
    given([])
      .when({ type: 'CreateLeadList', data: { listId, name: 'Hot web leads', kind: 'DYNAMIC', filter: { source: 'WEB_FORM', minScore: 60 } } })
      .then([dynamic]);
  });

  it('refuses a dynamic list without a criterion, or with leads put in by hand', () => {
    given([])
      .when({ type: 'CreateLeadList', data: { listId, name: 'All', kind: 'DYNAMIC', filter: {} } })
      .thenThrows(ValidationError, (e) => expect(e.fields.map((f) => f.field)).toEqual(['filter']));
    given([])
      .when({ type: 'CreateLeadList', data: { listId, name: 'Mixed', kind: 'DYNAMIC', filter: { rank: 'MQL' }, leadIds: ['a'] } })
      .thenThrows(ValidationError, (e) => expect(e.fields.map((f) => f.field)).toEqual(['leadIds']));
  });

  it('refuses a static list with a filter, a blank name, and a second creation', () => {
    given([])
      .when({ type: 'CreateLeadList', data: { listId, name: 'x', kind: 'STATIC', filter: { rank: 'MQL' } } })
      .thenThrows(ValidationError);
    given([]).when({ type: 'CreateLeadList', data: { listId, name: '  ', kind: 'STATIC' } }).thenThrows(ValidationError);
    given([created]).when({ type: 'CreateLeadList', data: { listId, name: 'again', kind: 'STATIC' } }).thenThrows(InvalidTransitionError);
  });
});

describe('RenameLeadList', () => {
  it('records the old and the new name, and nothing when the name is the same', () => {
    given([created])
      .when({ type: 'RenameLeadList', data: { listId, name: 'Fira 2026' } })
      .then([{ type: 'LeadListRenamed', data: { listId, name: 'Fira 2026', previousName: 'Fira Barcelona 2026' } }]);
    given([created]).when({ type: 'RenameLeadList', data: { listId, name: 'Fira Barcelona 2026' } }).thenNothingHappened();
  });

  it('refuses a list that does not exist or is archived', () => {
    given([]).when({ type: 'RenameLeadList', data: { listId, name: 'x' } }).thenThrows(NotFoundError);
    given([created, archived]).when({ type: 'RenameLeadList', data: { listId, name: 'x' } }).thenThrows(InvalidTransitionError);
  });
});

describe('AddLeadsToList and RemoveLeadsFromList', () => {
  it('adds only the leads not in the list yet, removes only those in it', () => {
    given([created, added])
      .when({ type: 'AddLeadsToList', data: { listId, leadIds: ['b', 'c', 'c'] } })
      .then([{ type: 'LeadsAddedToList', data: { listId, leadIds: ['c'] } }]);
    given([created, added]).when({ type: 'AddLeadsToList', data: { listId, leadIds: ['a'] } }).thenNothingHappened();
    given([created, added])
      .when({ type: 'RemoveLeadsFromList', data: { listId, leadIds: ['b', 'z'] } })
      .then([{ type: 'LeadsRemovedFromList', data: { listId, leadIds: ['b'] } }]);
  });

  it('a removed lead can be added again', () => {
    given([created, added, { type: 'LeadsRemovedFromList', data: { listId, leadIds: ['a'] } }])
      .when({ type: 'AddLeadsToList', data: { listId, leadIds: ['a'] } })
      .then([{ type: 'LeadsAddedToList', data: { listId, leadIds: ['a'] } }]);
  });

  it('refuses a dynamic list, an archived list and an oversized batch', () => {
    given([dynamic]).when({ type: 'AddLeadsToList', data: { listId, leadIds: ['a'] } }).thenThrows(InvalidTransitionError);
    given([created, archived]).when({ type: 'AddLeadsToList', data: { listId, leadIds: ['a'] } }).thenThrows(InvalidTransitionError);
    const tooMany = Array.from({ length: MAX_LEADS_PER_LIST_COMMAND + 1 }, (_, i) => `lead-${i}`);
    given([created]).when({ type: 'AddLeadsToList', data: { listId, leadIds: tooMany } }).thenThrows(ValidationError);
  });
});

describe('ArchiveLeadList', () => {
  it('archives once', () => {
    given([created]).when({ type: 'ArchiveLeadList', data: { listId } }).then([archived]);
    given([created, archived]).when({ type: 'ArchiveLeadList', data: { listId } }).thenNothingHappened();
  });
});

describe('AssignLeadList', () => {
  const leads = [
    { leadId: 'a', open: true },
    { leadId: 'b', open: true, ownerId: 'carol' },
    { leadId: 'c', open: false },
    { leadId: 'd', open: true },
  ];

  it('records the plan: open leads dealt in turn, owned ones kept with onlyUnassigned', () => {
    given([created])
      .when({ type: 'AssignLeadList', data: { listId, owners: ['alice', 'bob'], strategy: 'ROUND_ROBIN', onlyUnassigned: true, leads } })
      .then([
        {
          type: 'LeadListAssigned',
          data: {
            listId,
            strategy: 'ROUND_ROBIN',
            owners: ['alice', 'bob'],
            onlyUnassigned: true,
            assignments: [
              { leadId: 'a', ownerId: 'alice' },
              { leadId: 'd', ownerId: 'bob' },
            ],
            leftOut: 2,
          },
        },
      ]);
  });

  it('refuses no owner, a blank owner, and an archived list', () => {
    const command = (owners: string[]) =>
      ({ type: 'AssignLeadList', data: { listId, owners, strategy: 'ROUND_ROBIN', onlyUnassigned: false, leads } }) as const;
    given([created]).when(command([])).thenThrows(ValidationError);
    given([created]).when(command(['alice', ' '])).thenThrows(ValidationError);
    given([created, archived]).when(command(['alice'])).thenThrows(InvalidTransitionError);
  });
});
