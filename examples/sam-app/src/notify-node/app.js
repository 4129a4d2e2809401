// A Node.js function: builder leaves it alone.
exports.handler = async (event) => ({ statusCode: 200, body: JSON.stringify({ notified: true }) });
