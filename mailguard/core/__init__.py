"""The pure stages: parse, features, identity, classify, contacts, linker, rules, social. No IO."""
