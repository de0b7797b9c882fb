// A page that shows one analysis of the node as tables: the endpoint is named by the page
// (<div id="result" data-endpoint="/cse">), the result is what `node analyse` gives.
"use strict";
(async () => {
  if (!CF.page(["analyst"])) return;
  const box = document.getElementById("result");
  try {
    box.replaceChildren(CF.result(await CF.api(box.dataset.endpoint)));
  } catch (err) { CF.fail(err); }
})();
