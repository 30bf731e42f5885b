/**
 * OPC UA status codes the source acts on (besides the qualities in
 * core/quality.ts), and connect failures in words an integrator can act on.
 * Vendor-free (node-opcua loads only when a server is configured); a test
 * checks the numbers against node-opcua's StatusCodes.
 */
export const Status = {
  BadMonitoredItemFilterInvalid: 0x80430000,
  BadMonitoredItemFilterUnsupported: 0x80440000,
  BadFilterNotAllowed: 0x80450000,
  BadDeadbandFilterInvalid: 0x808e0000,
} as const;

/** A monitored item refused because of its deadband filter: create it without one and filter in the gateway. */
export function filterRefused(status: number): boolean {
  return (
    status === Status.BadMonitoredItemFilterInvalid ||
    status === Status.BadMonitoredItemFilterUnsupported ||
    status === Status.BadFilterNotAllowed ||
    status === Status.BadDeadbandFilterInvalid
  );
}

/** Why a connect or session failed. */
export function describeFailure(err: unknown): { reason: string; untrusted: boolean } {
  const m = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  if (/BadCertificateUntrusted|certificate verification has failed|server Certificate verification failed/i.test(m))
    return { reason: 'the server certificate is not trusted', untrusted: true };
  if (/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/i.test(m))
    return { reason: `the server refused the user identity (${m.slice(0, 200)})`, untrusted: false };
  if (/BadSecurityPolicyRejected|no endpoint|cannot find endpoint|BadSecurityModeRejected|End point must exist/i.test(m))
    return { reason: `the server offers no endpoint with this security mode and policy (${m.slice(0, 200)})`, untrusted: false };
  if (/ECONNREFUSED|connection cannot be established/i.test(m)) return { reason: `the server does not answer (${m.slice(0, 200)})`, untrusted: false };
  return { reason: m.slice(0, 300), untrusted: false };
}
