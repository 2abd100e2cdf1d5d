// Who sees a resident's contact (the relay's rule for a ticket's private
// document, `server/src/access.rs`, and client-core's
// `Device::wants_private`): supervisors and admins of the grid, and the
// worker who reported the ticket; never units, reviewers or other workers.
// The app asks the relay only for private documents this allows, and shows
// a contact only when this allows it (an old ticket may still carry one in
// its own fields, which units must not see here either).

import type { Role } from "../model/lifecycle.js";
import type { Session } from "./session.js";

export function mayReadContact(s: Pick<Session, "user" | "role">, reporter: string | null): boolean {
  const role: Role = s.role;
  switch (role) {
    case "supervisor":
    case "admin":
      return true;
    case "worker":
      return reporter === s.user;
    default:
      return false;
  }
}
