// The deflated bytes that explorers and basin maps store, base64-encoded in the page: the
// bytes of a base64 text of zlib-deflated data, as a promise of a Uint8Array.
function adlInflate(text) {
  var raw = atob(text), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
}
