import { expect } from 'vitest';
import { foldEvents, type Decider, type DomainEvent } from '../decider';

type ErrorClass<E extends Error> = new (...args: never[]) => E;

/**
 * Given/when/then for deciders, after Emmett's DeciderSpecification:
 *
 *   given([captured]).when(qualify).then([qualified]);
 *   given([captured, disqualified]).when(qualify).thenThrows(InvalidTransitionError);
 */
export const deciderSpecification = <State, Command, Event extends DomainEvent>(
  decider: Decider<State, Command, Event>,
) => {
  return (givenEvents: readonly Event[]) => ({
    when: (command: Command) => {
      const run = () => decider.decide(command, foldEvents(decider, givenEvents));
      return {
        then(expected: readonly Event[]): void {
          expect(run()).toEqual(expected);
        },
        thenNothingHappened(): void {
          expect(run()).toEqual([]);
        },
        thenThrows<E extends Error>(errorClass: ErrorClass<E>, check?: (error: E) => void): void {
          let thrown: unknown;
          try {
            run();
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toBeInstanceOf(errorClass);
          check?.(thrown as E);
        },
      };
    },
  });
};
