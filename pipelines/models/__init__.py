"""Model plumbing shared by the stages: loading (hub ids, local folders, GGUF), the
built-in tiny Llama, chat formatting, log-probs, devices, progress and reproducible saves.
"""
