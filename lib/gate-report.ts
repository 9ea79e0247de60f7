// What the compatibility gate (compat/gate.ts) reports, as data: the store records it with a bridge's
// decision, the watch and the bridge read it back.

export type FindingCode =
  /** Blocking: a consumer would fail on it, or trust would silently disappear. */
  | 'TRUSTED_ROOT_MISSING' // the previous set had a trusted_root.json, this one has none
  | 'TRUSTED_ROOT_UNLOADABLE' // not JSON, not a TrustedRoot, a key or certificate @sigstore/verify cannot load
  | 'VALIDITY_START_MISSING' // an entry whose validFor has no start (this service's verifier refuses it)
  | 'LOG_ID_MISMATCH' // a log id that is neither the sha256 of the key nor its signed-note key id
  | 'AUTHORITY_REMOVED' // an entry the previous set trusted without an end is gone
  | 'SIGNING_CONFIG_UNPARSEABLE'
  | 'LEGACY_TARGET_UNPARSEABLE' // a fulcio/rekor/ctfe/tsa PEM target (read by older cosign) that is not PEM
  /** Notices: reported, never blocking. */
  | 'LOG_ID_SIGNED_NOTE' // a Rekor v2 log identified by its checkpoint key id, not by the sha256 of its key
  | 'KEY_TYPE_UNSUPPORTED'; // a log some consumer cannot take (it leaves the log out or refuses)

export type Finding = {
  code: FindingCode;
  blocking: boolean;
  /** The target it is about. */
  target: string;
  /** The log or authority it is about (its URL), if any. */
  subject?: string;
  /** The consumer it is about; absent: every consumer. */
  consumer?: string;
  message: string;
};

/** Per consumer, what it leaves out of this trust material (say so in each output). */
export type ConsumerReport = { consumer: string; outputs: string[]; leftOut: string[] };

export type GateReport = {
  /** False when there is no trusted_root.json and none was expected: not a Sigstore repository. */
  applicable: boolean;
  passed: boolean;
  findings: Finding[];
  consumers: ConsumerReport[];
};
