"""Device adapters: pure codecs over bytes, one reconnecting serial link, emulators."""
