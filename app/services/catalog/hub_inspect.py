"""Reading a Hugging Face repository before registering it (FR-4).

The spec exists because unsupported models used to fail only after download. So the router reads
the repo's file list from the configured Hub (metadata only, never the weights), decides whether
llama.cpp or CTranslate2 can run it, and refuses with a reason when neither can.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import httpx2
from flask_babel import gettext as _
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ...errors import ApiError
from .paths import is_safe_relative_path, is_valid_repo_id

log = logging.getLogger(__name__)

HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})

# Memory a model needs beyond its file size (KV cache, activations, runtime): the rule the
# original router used, kept so catalog and URL registrations are comparable.
MEMORY_FACTOR = 1.5

# Preferred GGUF quantizations when a repo offers several and the client named none: the usual
# quality/size sweet spot first, then larger, then smaller.
QUANTIZATION_PREFERENCE = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q4_0", "Q6_K", "Q8_0", "Q3_K_M",
                           "IQ4_XS", "Q3_K_L", "Q2_K", "BF16", "F16", "F32")
_QUANTIZATION_PATTERN = re.compile(r"(?<![A-Za-z0-9])(IQ\d_[A-Z]+|Q\d_K_[SML]|Q\d_K|Q\d_\d|BF16|F16|F32)(?![A-Za-z0-9])",
                                   re.IGNORECASE)
_SPLIT_GGUF_PATTERN = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$")
CT2_REQUIRED = ("model.bin", "config.json")
CT2_TOKENIZERS = ("tokenizer.json", "tokenizer.model", "vocabulary.json", "vocabulary.txt", "vocab.txt",
                  "shared_vocabulary.json", "shared_vocabulary.txt")
# Files in a CTranslate2 repo a node needs besides the weights; documentation and other formats' weights are not.
_CT2_SKIP_SUFFIXES = (".md", ".gitattributes", ".png", ".jpg", ".jpeg", ".gif", ".safetensors", ".gguf", ".pt",
                      ".pth", ".h5", ".msgpack", ".onnx", ".ot", ".tflite")

# What the Hub says is checked before it is used or stored (audit findings 12 and 18): sizes are whole
# numbers of bytes below 2**53 (exact in JSON and JavaScript, far beyond any real repo, and 1.5 times it
# still fits SQLite's INTEGER); revisions are full git commit ids, checksums full sha256 digests.
MAX_HUB_SIZE = 2 ** 53
_COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_SHOWN_VALUE_LENGTH = 60


@dataclass(frozen=True)
class ModelReference:
    repo: str
    revision: str = "main"
    filename: str | None = None


@dataclass(frozen=True)
class HubFile:
    name: str
    size: int
    sha256: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class RepoListing:
    repo: str
    sha: str
    files: list[HubFile]


@dataclass(frozen=True)
class Artifact:
    """What a node will fetch: the primary file, every file needed, and what runs it."""

    format: str
    engine: str
    filename: str
    files: list[HubFile] = field(default_factory=list)
    quantization: str | None = None

    @property
    def size_bytes(self) -> int:
        return sum(item.size for item in self.files)

    @property
    def required_memory_bytes(self) -> int:
        return math.ceil(self.size_bytes * MEMORY_FACTOR)


def parse_model_reference(text: str, endpoint: str) -> ModelReference:
    """`org/name` or a Hub URL (`/resolve/` and `/blob/` URLs also name revision and file)."""
    text = text.strip()
    if "://" not in text:
        if not is_valid_repo_id(text):
            raise ApiError(400, "invalid_repo", _("'%(repo)s' is not a Hugging Face repo id such as org/name.",
                                                  repo=text), "repo")
        return ModelReference(repo=text)
    parts = urlsplit(text)
    allowed_hosts = HUB_HOSTS | {urlsplit(endpoint).netloc.lower()}
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in allowed_hosts:
        raise ApiError(400, "invalid_repo", _("Only Hugging Face URLs (https://huggingface.co/...) can be "
                                              "registered; '%(host)s' is another host.", host=parts.netloc), "repo")
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if segments and segments[0] == "models":
        segments = segments[1:]
    if len(segments) < 2 or not is_valid_repo_id("/".join(segments[:2])):
        raise ApiError(400, "invalid_repo", _("The URL does not name a repository (expected "
                                              "https://huggingface.co/org/name)."), "repo")
    repo = "/".join(segments[:2])
    rest = segments[2:]
    if not rest:
        return ModelReference(repo=repo)
    if rest[0] in ("resolve", "blob") and len(rest) >= 3:
        filename = "/".join(rest[2:])
        if not is_safe_relative_path(filename):
            raise ApiError(400, "invalid_filename", _("The file name in the URL is not a safe relative path."),
                           "repo")
        return ModelReference(repo=repo, revision=_checked_revision(rest[1]), filename=filename)
    if rest[0] == "tree" and len(rest) >= 2:
        return ModelReference(repo=repo, revision=_checked_revision(rest[1]))
    raise ApiError(400, "invalid_repo", _("The URL is not a repository, /resolve/ or /blob/ address."), "repo")


def _checked_revision(revision: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._/-]{1,128}", revision) or ".." in revision:
        raise ApiError(400, "invalid_revision", _("The revision in the URL is not valid."), "repo")
    return revision


def hub_size(value: object) -> int | None:
    """`value` as a size in bytes when it is one the router can store (an int, 0 <= n < 2**53), else None.

    bool is an int subclass and JSON floats, strings or huge numbers are not sizes: all are refused."""
    if type(value) is not int or not 0 <= value < MAX_HUB_SIZE:
        return None
    return value


def hub_count(value: object) -> int | None:
    """A download or like count from the Hub: the same rule as a size (a finite, non-negative int)."""
    return hub_size(value)


def _shown(value: object) -> str:
    """A Hub-provided value quoted for a message or a log line: repr escapes control characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[:_SHOWN_VALUE_LENGTH - 3] + "..."


def _bad_answer(reference: ModelReference, endpoint: str, reason: str) -> ApiError:
    log.warning("the Hub at %s sent an unusable answer for %s@%s: %s", endpoint, reference.repo, reference.revision,
                reason)
    return ApiError(502, "hub_bad_answer", _("The Hugging Face Hub at %(endpoint)s sent an answer the router cannot "
                                             "use for %(repo)s (%(reason)s); nothing was registered.",
                                             endpoint=endpoint, repo=reference.repo, reason=reason), "repo")


def _checked_file(reference: ModelReference, endpoint: str, sibling: object) -> HubFile | None:
    """One sibling of the Hub's answer as a HubFile; None for names that must never become a path."""
    name = getattr(sibling, "rfilename", None)
    if not isinstance(name, str):
        raise _bad_answer(reference, endpoint, _("a file name is %(value)s", value=_shown(name)))
    if not is_safe_relative_path(name):
        return None  # never let a Hub-provided name become a path
    size = hub_size(sibling.size)
    if size is None:
        raise _bad_answer(reference, endpoint, _("the size of %(file)s is %(value)s, not a number of bytes",
                                                 file=_shown(name), value=_shown(sibling.size)))
    sha256 = None
    if sibling.lfs is not None:
        for value in (sibling.lfs.size, sibling.lfs.pointer_size):
            if hub_size(value) is None:
                raise _bad_answer(reference, endpoint, _("the size of %(file)s is %(value)s, not a number of bytes",
                                                         file=_shown(name), value=_shown(value)))
        sha256 = sibling.lfs.sha256
        if not isinstance(sha256, str) or not _SHA256_PATTERN.fullmatch(sha256):
            raise _bad_answer(reference, endpoint, _("the sha256 of %(file)s is %(value)s, not 64 hexadecimal digits",
                                                     file=_shown(name), value=_shown(sha256)))
    return HubFile(name=name, size=size, sha256=sha256)


def list_repo_files(reference: ModelReference, endpoint: str, token: str | None, timeout: float) -> RepoListing:
    """File names, sizes and checksums from the Hub; maps the Hub's failures to API errors.

    Every value is checked before it is returned: an answer the router cannot use is a 502
    `hub_bad_answer`, so nothing the Hub invents (sizes, commit ids, checksums) is ever stored."""
    api = HfApi(endpoint=endpoint, token=token or False)
    try:
        info = api.model_info(reference.repo, revision=reference.revision, files_metadata=True, timeout=timeout)
    except RevisionNotFoundError as exc:
        raise ApiError(404, "revision_not_found", _("Revision '%(revision)s' does not exist in %(repo)s.",
                                                    revision=reference.revision, repo=reference.repo), "repo") from exc
    except GatedRepoError as exc:
        raise ApiError(422, "repo_gated", _("%(repo)s is gated: accept its licence on Hugging Face and set "
                                            "HF_TOKEN on the router and the nodes.", repo=reference.repo),
                       "repo") from exc
    except RepositoryNotFoundError as exc:
        raise ApiError(404, "repo_not_found", _("Repository %(repo)s was not found on the Hub (or it is private).",
                                                repo=reference.repo), "repo") from exc
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as exc:
        log.warning("reading %s@%s from the Hub at %s failed: %s: %s", reference.repo, reference.revision, endpoint,
                    type(exc).__name__, exc)
        raise ApiError(503, "hub_unavailable", _("The Hugging Face Hub at %(endpoint)s could not be reached "
                                                 "(%(reason)s). Nothing was registered; try again later.",
                                                 endpoint=endpoint, reason=type(exc).__name__)) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the client could not parse the answer
        if isinstance(exc, KeyError):
            detail = _("the field %(field)s is missing", field=_shown(exc.args[0] if exc.args else None))
        else:
            detail = _("it does not have the expected shape (%(error)s)", error=type(exc).__name__)
        raise _bad_answer(reference, endpoint, detail) from exc
    if not isinstance(info.sha, str) or not _COMMIT_PATTERN.fullmatch(info.sha):
        raise _bad_answer(reference, endpoint, _("the commit id is %(value)s, not a git commit sha",
                                                 value=_shown(info.sha)))
    if not isinstance(info.siblings, list):
        raise _bad_answer(reference, endpoint, _("the file list is missing"))
    files = [item for item in (_checked_file(reference, endpoint, sibling) for sibling in info.siblings) if item]
    if sum(item.size for item in files) >= MAX_HUB_SIZE:
        raise _bad_answer(reference, endpoint, _("the files add up to more bytes than any repository holds"))
    return RepoListing(repo=reference.repo, sha=info.sha, files=files)


def quantization_of(filename: str) -> str | None:
    match = _QUANTIZATION_PATTERN.search(filename.rsplit("/", 1)[-1])
    return match.group(1).upper() if match else None


def _gguf_parts(chosen: HubFile, files: list[HubFile]) -> list[HubFile]:
    """All parts of a split GGUF (`x-00001-of-00003.gguf`), else just the file."""
    match = _SPLIT_GGUF_PATTERN.match(chosen.name)
    if not match:
        return [chosen]
    prefix = f"{match['stem']}-"
    suffix = f"-of-{match['total']}.gguf"
    return sorted((f for f in files if f.name.startswith(prefix) and f.name.endswith(suffix)), key=lambda f: f.name)


def _is_main_gguf(item: HubFile) -> bool:
    base = item.name.rsplit("/", 1)[-1].lower()
    if not base.endswith(".gguf") or base.startswith("mmproj"):
        return False
    split = _SPLIT_GGUF_PATTERN.match(item.name)
    return split is None or split["part"] == "00001"


def _pick_gguf(candidates: list[HubFile]) -> HubFile:
    by_quantization: dict[str, HubFile] = {}
    for item in candidates:
        by_quantization.setdefault(quantization_of(item.name) or "", item)
    for preferred in QUANTIZATION_PREFERENCE:
        if preferred in by_quantization:
            return by_quantization[preferred]
    return min(candidates, key=lambda f: (f.size, f.name))  # unknown naming: the smallest is likeliest to fit


def _ct2_files(files: list[HubFile]) -> list[HubFile] | None:
    root = {item.name: item for item in files if "/" not in item.name}
    if not all(name in root for name in CT2_REQUIRED) or not any(name in root for name in CT2_TOKENIZERS):
        return None
    return [item for name, item in sorted(root.items())
            if not name.lower().endswith(_CT2_SKIP_SUFFIXES) and name != "pytorch_model.bin"]


def _unsupported(listing: RepoListing) -> ApiError:
    names = sorted(item.name for item in listing.files)
    shown = ", ".join(names[:8]) + (_(" and %(count)d more", count=len(names) - 8) if len(names) > 8 else "")
    return ApiError(422, "unsupported_model_format", _(
        "%(repo)s has nothing llama.cpp or CTranslate2 can run (found: %(found)s). Supported: a .gguf file "
        "(llama.cpp), or a CTranslate2 model with model.bin, config.json and a tokenizer.",
        repo=listing.repo, found=shown or _("no files")), "repo")


def choose_artifact(listing: RepoListing, filename: str | None) -> Artifact:
    """Decide format, engine and files; the engine follows from the files, users never pick it."""
    by_name = {item.name: item for item in listing.files}
    ct2_files = _ct2_files(listing.files)
    if filename is not None:
        chosen = by_name.get(filename)
        if chosen is None:
            raise ApiError(404, "file_not_found", _("%(file)s was not found in %(repo)s.", file=filename,
                                                    repo=listing.repo), "filename")
        if chosen.name.lower().endswith(".gguf"):
            return Artifact("gguf", "llama_cpp", chosen.name, _gguf_parts(chosen, listing.files),
                            quantization_of(chosen.name))
        if ct2_files is not None and chosen in ct2_files:
            return Artifact("ctranslate2", "ctranslate2", "model.bin", ct2_files)
        raise ApiError(422, "unsupported_model_format", _(
            "%(file)s is not a format our engines run: choose a .gguf file, or a CTranslate2 model.bin.",
            file=filename), "filename")
    ggufs = [item for item in listing.files if _is_main_gguf(item)]
    if ggufs:
        chosen = _pick_gguf(ggufs)
        return Artifact("gguf", "llama_cpp", chosen.name, _gguf_parts(chosen, listing.files),
                        quantization_of(chosen.name))
    if ct2_files is not None:
        return Artifact("ctranslate2", "ctranslate2", "model.bin", ct2_files)
    raise _unsupported(listing)


def url_model_id(repo: str, artifact: Artifact) -> str:
    """Id of a URL-registered model: `org/name`, plus `:quantization` for GGUF (Ollama's habit)."""
    base = repo.lower()
    if artifact.format != "gguf":
        return base
    tag = artifact.quantization or artifact.filename.rsplit("/", 1)[-1].removesuffix(".gguf")
    return f"{base}:{tag.lower()}"


def listed_size(format: str, filename: str, file_sizes: dict[str, int]) -> int | None:
    """Size of what a node would fetch, from the Hub's file list; None when it does not say."""
    files = [HubFile(name, size) for name, size in file_sizes.items()]
    if format == "gguf":
        chosen = next((item for item in files if item.name == filename), None)
        parts = _gguf_parts(chosen, files) if chosen else []
    else:
        parts = _ct2_files(files) or []
    total = sum(item.size for item in parts)
    return total if 0 < total < MAX_HUB_SIZE else None
