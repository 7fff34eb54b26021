// Starts Swagger UI on /api/v1/docs. A file of its own, not the inline <script> of FastAPI's
// page: the page's Content-Security-Policy allows scripts from this server only (script-src
// 'self'), so nothing an OpenAPI description or a query string brings can run as script.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
