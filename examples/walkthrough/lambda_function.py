"""The AWS Compute Blog walkthrough for the Parameters and Secrets extension, corrected so that it runs.

It loads the application config and the database's address from Parameter Store and the database credentials
from Secrets Manager, all through the extension on localhost:2773 (pscache or the AWS one), then connects to RDS
MySQL (any MySQL or MariaDB) and queries it. What changed against the published code: README.md beside this file.

Environment:
    ENV                  path prefix of the parameters (default `dev`)
    APP_CONFIG_PATH      JSON app config at /$ENV/$APP_CONFIG_PATH (default `demoApp/app_config`)
    DB_PARAMETERS_PATH   /$ENV/$DB_PARAMETERS_PATH/{host,port,name} (default `demoApp/db`)
    CREDS_PATH           the secret (name or ARN) holding {"username": ..., "password": ...}
Package: this file, pscache_client.py (from examples/python) and PyMySQL, e.g. `pip install -t . PyMySQL`.
"""

import json
import os

import pymysql

from pscache_client import get_parameter, get_secret

PREFIX = "/" + os.environ.get("ENV", "dev")
CONFIG_PATH = f"{PREFIX}/{os.environ.get('APP_CONFIG_PATH', 'demoApp/app_config')}"
DB_PATH = f"{PREFIX}/{os.environ.get('DB_PARAMETERS_PATH', 'demoApp/db')}"


def lambda_handler(event, context):
    # Reads go to the extension on every invoke: after the first, they are answered from its cache.
    config = json.loads(get_parameter(CONFIG_PATH)["Value"])
    host = get_parameter(f"{DB_PATH}/host")["Value"]
    port = int(get_parameter(f"{DB_PATH}/port")["Value"])
    database = get_parameter(f"{DB_PATH}/name")["Value"]
    credentials = json.loads(get_secret(os.environ["CREDS_PATH"])["SecretString"])

    # A failure propagates with its cause (bad password, unreachable host), never as a generic message.
    connection = pymysql.connect(host=host, port=port, user=credentials["username"],
                                 password=credentials["password"], database=database, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER(), VERSION()")
            user, version = cursor.fetchone()
            cursor.execute("SELECT message FROM greetings ORDER BY id")
            greetings = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    return {
        "message": f"{config['app']} loaded config version {config['version']} and connected to {database}",
        "user": user,
        "server": version,
        "greetings": greetings,
    }
