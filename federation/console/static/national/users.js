// Users and the state of their keys (admin).
"use strict";
(async () => {
  if (!CF.page(["admin"])) return;
  try {
    const rows = await CF.api("/users");
    document.getElementById("users").replaceChildren(CF.table(
      ["name", "role", "key_id", "state", "created_at", "expires_at", "revoked_at"], rows));
  } catch (err) { CF.fail(err); }
})();
