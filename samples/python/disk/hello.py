"""On the python sample's disk (/mnt, the REPL's working folder): `import hello`."""

GREETING = "hello from the vmsfx python sample disk"


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


print(GREETING)
