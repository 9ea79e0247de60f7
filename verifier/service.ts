import * as path from 'node:path';
import type { Config } from '../config/config';
import { loadAdmissionPolicies, type AdmissionOptions } from './admission';
import { ImageVerifier } from './image';
import { RegistryClient } from './oci';
import type { TrustRootProvider } from './trust-root';

export type VerifierService = {
  images: ImageVerifier;
  registry: RegistryClient;
  trustRoots: TrustRootProvider;
  admission: AdmissionOptions;
};

/** Relative paths in the verifier section are relative to the configuration file's folder. */
export function configBaseDir(config: Config): string {
  return path.isAbsolute(config.origin) ? path.dirname(config.origin) : process.cwd();
}

/** Everything the HTTP API and the CLI verify with, from the configuration and a trust-root source. */
export function createVerifierService(config: Config, trustRoots: TrustRootProvider): VerifierService {
  const v = config.verifier;
  const baseDir = configBaseDir(config);
  const registry = new RegistryClient({
    registries: v.registries,
    dockerConfig: v.dockerConfig,
    baseDir,
    timeoutMs: v.requestTimeoutSeconds * 1000,
    maxManifestBytes: v.maxManifestBytes,
    maxBlobBytes: v.maxBlobBytes,
  });
  return {
    images: new ImageVerifier({ registry, trustRoots, cacheTtlSeconds: v.cacheTtlSeconds, maxBytesPerVerification: v.maxBytesPerVerification, maxPayloadBytes: v.maxPayloadBytes }),
    registry,
    trustRoots,
    admission: { policies: loadAdmissionPolicies(v, baseDir), unmatched: v.admission.unmatched, maxImages: v.admission.maxImages },
  };
}
