import { outboundAddressStates, type OutboundAddressState } from '../../delivery/outbound-addresses.js';
import type { Services } from '../../services.js';
import type { IpEvent } from '../../store/blocklists.js';
import type { Viewer } from '../viewer.js';
import { assertStaff } from './staff-only.js';

export interface AddressView extends OutboundAddressState {
  /** Every listing and delisting, newest first (`relais ip history`). */
  history: IpEvent[];
}

/** The outbound addresses with their blocklist state and history: `relais ip list` and `relais ip history`. */
export async function outboundAddresses(services: Services, viewer: Viewer): Promise<AddressView[]> {
  assertStaff(viewer);
  const states = await outboundAddressStates(services);
  const views: AddressView[] = [];
  for (const state of states) {
    const history = state.address === null ? [] : await services.store.blocklists.ipEvents(state.address);
    views.push({ ...state, history: [...history].sort((a, b) => b.at - a.at || b.id - a.id) });
  }
  return views;
}
