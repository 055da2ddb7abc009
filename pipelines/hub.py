"""Push a folder to a Hugging Face Hub repository: the ``--push-to-hub REPO`` option of
`capo register`, of the register stage and of `capo benchmark export`.

    check_push(repo_id)        # before the work: a repo id and a token, else one CapoError line
    push_folder(folder, repo_id, "dataset", ignore_patterns=["disk/*"], message="...")

``push_folder`` creates the repository if it does not exist (``HfApi.create_repo(...,
exist_ok=True)``) and uploads the folder in one commit (``HfApi.upload_folder``). A missing
token, a refused token or a network error is one CapoError line, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from capo.errors import CapoError

__all__ = ["check_push", "push_folder"]


def check_push(repo_id: str) -> None:
    """Fail early, before any work: ``repo_id`` is not a Hub id, or no token is configured."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise CapoError(f"--push-to-hub: {repo_id!r} is not a Hub repo id (USER/NAME)") from err
    if not get_token():
        raise CapoError(
            "--push-to-hub: no Hugging Face token: run `hf auth login` or set HF_TOKEN "
            "(a token with write access)"
        )


def push_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str,
    *,
    message: str,
    ignore_patterns: list[str] | None = None,
) -> None:
    """Create ``repo_id`` (``repo_type`` model or dataset) if needed and upload ``folder``."""
    from huggingface_hub import HfApi

    check_push(repo_id)
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise CapoError(f"{folder}: no README.md (the card) to push: is the folder built?")
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            commit_message=message,
            ignore_patterns=ignore_patterns,
        )
    # The Hub client raises its own errors (HfHubHTTPError: a refused token, a 4xx/5xx),
    # OSError (offline mode, a read error) and its HTTP library's (requests, httpx or httpx2
    # by version: a connection error), so anything these two calls raise becomes one line.
    except Exception as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CapoError(
            f"--push-to-hub: cannot push {folder} to the Hub {repo_type} repo {repo_id}: "
            f"{type(err).__name__}: {detail}"
        ) from err
