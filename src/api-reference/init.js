// The reference renders the worker's own document. It only reads: "Try it out" is off (a page
// that sends requests would invite pasting API keys into it), and no validator badge, which
// would call a server outside this origin.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
  supportedSubmitMethods: [],
  validatorUrl: null,
});
