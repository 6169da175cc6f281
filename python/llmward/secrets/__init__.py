"""One interface to secrets: ``secret("name")`` over environment variables, secret files
(Docker, Kubernetes) and HashiCorp Vault KV v2. Values come wrapped in SecretValue, which never
shows them in repr, str, format, logs or pickles; ``.reveal()`` returns the value."""

from .env_source import EnvSource, env_var_name
from .errors import Miss, SecretNotFound, SecretsMissing, VaultError
from .file_source import FileSource
from .resolver import SecretResolver, default_resolver, secret, set_default_resolver
from .source import SecretSource
from .value import SecretValue
from .vault_auth import KubernetesAuth, TokenAuth, VaultAuth, VaultToken
from .vault_database import DatabaseCredentials, VaultDatabaseCredentials
from .vault_http import VaultHttp
from .vault_session import VaultSession
from .vault_source import VaultRef, VaultSource

__all__ = [
    "DatabaseCredentials",
    "EnvSource",
    "FileSource",
    "KubernetesAuth",
    "Miss",
    "SecretNotFound",
    "SecretResolver",
    "SecretSource",
    "SecretValue",
    "SecretsMissing",
    "TokenAuth",
    "VaultAuth",
    "VaultDatabaseCredentials",
    "VaultError",
    "VaultHttp",
    "VaultRef",
    "VaultSession",
    "VaultSource",
    "VaultToken",
    "default_resolver",
    "env_var_name",
    "secret",
    "set_default_resolver",
]
