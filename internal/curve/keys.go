package curve

import (
	"errors"
	"fmt"
	"os"
	"strings"

	zmq "github.com/pebbe/zmq4"
)

// Sentinel errors.
var (
	// ErrUnavailable: the libzmq in use was built without CURVE.
	ErrUnavailable = errors.New("curve: this libzmq has no CURVE support (build it with libsodium)")
	// ErrBadKey: a key file does not hold one Z85 key of 40 characters.
	ErrBadKey = errors.New("curve: not a Z85 CURVE key (40 characters)")
	// ErrNotAuthorized: a node refused the client's key.
	ErrNotAuthorized = errors.New("not authorized (CURVE)")
	// ErrKeyNeeded: a node runs CURVE and the client has no key.
	ErrKeyNeeded = errors.New("the node runs CURVE (it registers Meta \"curve\"); connect with a CURVE key (client_producer --curve-secret-file)")
)

// KeyLen is the length of a Z85 key.
const KeyLen = 40

// z85Alphabet is the alphabet of Z85 (ZeroMQ RFC 32).
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// Keypair is a CURVE keypair in Z85.
type Keypair struct {
	Public string
	Secret string
}

// Available reports ErrUnavailable unless libzmq supports CURVE.
func Available() error {
	if !zmq.HasCurve() {
		return ErrUnavailable
	}
	return nil
}

// Generate returns a new random keypair.
func Generate() (Keypair, error) {
	if err := Available(); err != nil {
		return Keypair{}, err
	}
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		return Keypair{}, fmt.Errorf("curve: new keypair: %w", err)
	}
	return Keypair{Public: pub, Secret: sec}, nil
}

// WriteKeypair writes kp as prefix+".pub" (mode 0644) and prefix+".secret"
// (mode 0600), each one line; it refuses to overwrite either file.
func WriteKeypair(prefix string, kp Keypair) (pubPath, secretPath string, err error) {
	pubPath, secretPath = prefix+".pub", prefix+".secret"
	for _, p := range []string{pubPath, secretPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("curve: %s exists; remove it or choose another prefix", p)
		}
	}
	if err := writeNew(secretPath, kp.Secret, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, kp.Public, 0o644); err != nil {
		_ = os.Remove(secretPath)
		return "", "", err
	}
	return pubPath, secretPath, nil
}

func writeNew(path, key string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("curve: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("curve: write %s: %w", path, err)
	}
	return nil
}

// ParseKey checks that s (surrounding white space aside) is a Z85 key of
// 32 bytes and returns it.
func ParseKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) != KeyLen {
		return "", fmt.Errorf("%w: %d characters", ErrBadKey, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(z85Alphabet, rune(s[i])) {
			return "", fmt.Errorf("%w: %q is not a Z85 character", ErrBadKey, s[i])
		}
	}
	return s, nil
}

// ReadKeyFile reads the one Z85 key in the file at path.
func ReadKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("curve: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return "", fmt.Errorf("curve: %s: %w", path, err)
	}
	return k, nil
}

// LoadSecretFile reads the secret key at path and derives its public key.
// A secret file readable by others is refused, as ssh does.
func LoadSecretFile(path string) (Keypair, error) {
	if err := Available(); err != nil {
		return Keypair{}, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return Keypair{}, fmt.Errorf("curve: secret key %s has mode %v; make it readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	sec, err := ReadKeyFile(path)
	if err != nil {
		return Keypair{}, err
	}
	pub, err := zmq.AuthCurvePublic(sec)
	if err != nil {
		return Keypair{}, fmt.Errorf("curve: %s: %w", path, err)
	}
	return Keypair{Public: pub, Secret: sec}, nil
}
