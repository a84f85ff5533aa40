"""The AWS blog's walkthrough (examples/walkthrough), corrected, end to end: config and database address from
Parameter Store, credentials from Secrets Manager, all through pscache, then queries on a real MariaDB server."""

import json
import secrets

import pytest

from locallambda.mariadb import TempMariaDB
from locallambda.runtimes import walkthrough_package

GREETINGS = ["hello from MariaDB", "served through pscache"]


@pytest.mark.slow
def test_walkthrough_queries_the_database_with_config_and_credentials_from_pscache(lam, proxy, aws, tmp_path):
    password = secrets.token_urlsafe(18) + "'\\%"  # quotes and escapes survive every hop
    rows = [f"INSERT INTO greetings (message) VALUES ('{g}')" for g in GREETINGS]
    schema = ["CREATE TABLE greetings (id INT AUTO_INCREMENT PRIMARY KEY, message VARCHAR(100))", *rows]
    with TempMariaDB(tmp_path / "db", "DemoAppDatabase", "myadmin", password, schema) as db:
        ssm = aws["ssm"]
        config = {"enableVersion": True, "version": 1, "app": "DemoApp"}
        for name, value in [("app_config", json.dumps(config)), ("db/host", "127.0.0.1"),
                            ("db/port", str(db.port)), ("db/name", "DemoAppDatabase")]:
            ssm.put_parameter(Name=f"/dev/demoApp/{name}", Value=value, Type="String", Overwrite=True)
        secret = aws["sm"].create_secret(Name="dev/demoApp/db-credentials",
                                         SecretString=json.dumps({"username": "myadmin", "password": password}))

        command, handler = walkthrough_package(tmp_path / "package")
        emu, _ = lam({"ENV": "dev", "APP_CONFIG_PATH": "demoApp/app_config", "CREDS_PATH": secret["ARN"]},
                     runtime=command, handler_name=handler)
        assert emu.init().ok, emu.runtime_output()
        for _ in range(3):
            result = emu.invoke(timeout_s=20)
            assert result.ok and result.function_error is None, (result, emu.runtime_output(), db.output()[-2000:])
            assert result.response["message"] == "DemoApp loaded config version 1 and connected to DemoAppDatabase"
            assert result.response["user"] == "myadmin@127.0.0.1"  # logged in with the secret's credentials
            assert "MariaDB" in result.response["server"]
            assert result.response["greetings"] == GREETINGS  # rows only the database holds
        # Four parameters and one secret, each fetched once: the other invokes were served from pscache's cache.
        assert proxy.count("GetParameter") == 4 and proxy.count("GetSecretValue") == 1

        # A wrong password surfaces the database's own error, not a generic one.
        aws["sm"].put_secret_value(SecretId=secret["ARN"],
                                   SecretString=json.dumps({"username": "myadmin", "password": "wrong"}))
        emu2, _ = lam({"CREDS_PATH": secret["ARN"]}, runtime=command, handler_name=handler)
        denied = emu2.invoke(timeout_s=20)
        assert denied.function_error == "OperationalError", (denied, emu2.runtime_output())
        assert "Access denied for user 'myadmin'" in denied.response["errorMessage"]
