// Renders /openapi.json on /docs. No validator badge (it would call validator.swagger.io): the
// page makes no request beyond this origin.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#reference",
  validatorUrl: null,
  deepLinking: true,
  docExpansion: "list",
  tryItOutEnabled: false,
  displayOperationId: true,
});
