/** A member, in the functional style: a decider of pure functions. */
import { defineDecider, DomainError } from '../../src/index.js';
import { MemberJoined, MemberSuspended, type MemberEvent } from './events.js';

export type MemberCommand =
  | { type: 'JoinLibrary'; data: { memberId: string; name: string } }
  | { type: 'SuspendMember'; data: { memberId: string; reason: string } };

export interface MemberState {
  status: 'none' | 'active' | 'suspended';
  name: string | null;
}

export const member = defineDecider<MemberCommand, MemberEvent, MemberState>({
  initialState: () => ({ status: 'none', name: null }),
  decide(command, state) {
    switch (command.type) {
      case 'JoinLibrary':
        if (state.status !== 'none') throw new DomainError(`${command.data.memberId} is a member already`, 'member_exists');
        return MemberJoined.create(command.data);
      case 'SuspendMember':
        if (state.status !== 'active')
          throw new DomainError(`${command.data.memberId} is not an active member`, 'member_not_active');
        return MemberSuspended.create(command.data);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'MemberJoined':
        return { status: 'active', name: event.data.name };
      case 'MemberSuspended':
        return { ...state, status: 'suspended' };
    }
  },
});
