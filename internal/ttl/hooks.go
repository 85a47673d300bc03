package ttl

// WipeReason is the cause of an entry leaving the vault. Its values are the
// label values of the vault's wipe metric.
type WipeReason string

// The reasons an entry leaves the vault.
const (
	// WipeTaken means Take handed the values to the caller, who must wipe
	// them. The vault does not wipe them itself.
	WipeTaken WipeReason = "taken"
	// WipeDeleted means Delete wiped the entry before its deadline.
	WipeDeleted WipeReason = "deleted"
	// WipeExpired means the vault wiped the entry because its deadline had
	// passed, in whichever sweep or call found it first.
	WipeExpired WipeReason = "expired"
	// WipeClosed means Close wiped the entry.
	WipeClosed WipeReason = "closed"
)

// Hooks receives the vault's events for metrics. The vault calls every
// method with its lock held, so that gauge updates arrive in order. A method
// must return quickly and must not call the vault.
type Hooks interface {
	// Held reports the entries and plaintext bytes held after each change.
	Held(entries, bytes int)
	// Wiped reports one entry leaving the vault and why. Expirations are
	// the calls with WipeExpired and takes the calls with WipeTaken.
	Wiped(reason WipeReason)
	// Rejected reports one Put rejected with ErrFull.
	Rejected()
}

// NopHooks ignores every event. Embed it in a Hooks implementation to
// implement only some of the methods.
type NopHooks struct{}

// Held does nothing.
func (NopHooks) Held(int, int) {}

// Wiped does nothing.
func (NopHooks) Wiped(WipeReason) {}

// Rejected does nothing.
func (NopHooks) Rejected() {}

var _ Hooks = NopHooks{}
