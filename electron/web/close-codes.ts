// WebSocket close codes web mode sends its pages (read by renderer/src/lib/web-client.ts). Browsers do not
// show a refused handshake's HTTP status to the page, so a page is told on an opened socket instead.

/** The page's session token is not this run's: the studio was restarted (it makes a new token each run). */
export const TOKEN_REFUSED = 4401;
/** The renderer may import only types from here (test/shell/boundaries.test.ts): its constant is typed with this. */
export type TokenRefusedCode = typeof TOKEN_REFUSED;
