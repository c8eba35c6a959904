/**
 * A throw-away public key infrastructure for tests and benchmarks, made with
 * the `openssl` command line tool in a temporary directory: a root CA, two
 * device certificates signed by it (valid for `127.0.0.1`, `::1` and
 * `localhost`, usable as TLS server and client certificates), and one
 * self-signed "rogue" certificate that no one trusts.
 *
 * @module
 */

/** File paths of one certificate and its private key (PEM). */
export interface CertFiles {
  /** The certificate. */
  certFile: string;
  /** Its unencrypted private key. */
  keyFile: string;
}

/** The files of a {@linkcode createPki} run. */
export interface Pki {
  /** The temporary directory holding every file. */
  dir: string;
  /** The root CA certificate (`ca.pem`); its key is `ca.key`. */
  caFile: string;
  /** Two device certificates signed by the CA. */
  devices: [CertFiles, CertFiles];
  /** A self-signed certificate unrelated to the CA. */
  rogue: CertFiles;
  /** Remove the directory. */
  remove(): Promise<void>;
}

/** Whether the `openssl` command line tool can be run. */
export const hasOpenssl: boolean = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args.join(" ")} failed:\n${new TextDecoder().decode(stderr)}`);
  }
}

// EC P-256 keys: generated in milliseconds (the guide's 4096-bit RSA takes seconds).
const KEY_ARGS = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];

const DEVICE_EXTENSIONS = [
  "basicConstraints = critical, CA:FALSE",
  "keyUsage = critical, digitalSignature, keyEncipherment",
  "extendedKeyUsage = serverAuth, clientAuth",
  "subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost",
  "subjectKeyIdentifier = hash",
  "authorityKeyIdentifier = keyid",
].join("\n");

/**
 * Create a CA, two CA-signed device certificates and a rogue self-signed one
 * in a new temporary directory.
 */
export async function createPki(): Promise<Pki> {
  const dir = await Deno.makeTempDir({ prefix: "aiomas-pki-" });
  await openssl(dir, "genpkey", ...KEY_ARGS, "-out", "ca.key");
  await openssl(
    dir,
    ...["req", "-new", "-x509", "-key", "ca.key", "-out", "ca.pem", "-days", "30"],
    ...["-subj", "/CN=aiomas test root CA"],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  );
  await Deno.writeTextFile(`${dir}/device.ext`, DEVICE_EXTENSIONS);
  const devices: CertFiles[] = [];
  for (const name of ["device1", "device2"]) {
    await openssl(dir, "genpkey", ...KEY_ARGS, "-out", `${name}.key`);
    await openssl(
      dir,
      ...["req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`],
      ...["-subj", `/CN=${name}`],
    );
    await openssl(
      dir,
      ...["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key"],
      ...["-CAcreateserial", "-out", `${name}.pem`, "-days", "30"],
      ...["-extfile", "device.ext"],
    );
    devices.push({ certFile: `${dir}/${name}.pem`, keyFile: `${dir}/${name}.key` });
  }
  await openssl(dir, "genpkey", ...KEY_ARGS, "-out", "rogue.key");
  await openssl(
    dir,
    ...["req", "-new", "-x509", "-key", "rogue.key", "-out", "rogue.pem", "-days", "30"],
    ...["-subj", "/CN=rogue"],
    ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
  );
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    devices: [devices[0], devices[1]],
    rogue: { certFile: `${dir}/rogue.pem`, keyFile: `${dir}/rogue.key` },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

if (import.meta.main) {
  const pki = await createPki();
  console.log(pki.dir);
}
