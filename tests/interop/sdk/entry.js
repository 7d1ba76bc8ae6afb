// Bundled by esbuild into dist/sdk.js (an IIFE) for tests/interop/sdk/page.html.
import {
  ClientCallType,
  createCallSignals,
  createInfinityClient,
  createInfinityClientSignals,
} from "@pexip/infinity";

window.createInfinityClient = createInfinityClient;
window.createInfinityClientSignals = createInfinityClientSignals;
window.createCallSignals = createCallSignals;
window.ClientCallType = ClientCallType;
