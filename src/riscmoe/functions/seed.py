'''The seed library: basic maths and list functions, written here and trusted.

Each entry is (signature, description, source). Seeds run in the main process (they are
ours); every other stored function runs in the sandbox. Guards on absurd inputs keep every
seed fast on whatever a task or the synthesiser feeds it.
'''

from __future__ import annotations

SEEDS: list[tuple[str, str, str]] = [
    # ---------------------------------------------------------------- int -> int
    ("(int) -> int", "square of a number, x times x", "def square(x):\n    return x * x\n"),
    ("(int) -> int", "cube of a number, x to the third power", "def cube(x):\n    return x * x * x\n"),
    ("(int) -> int", "double a number, twice x", "def double(x):\n    return 2 * x\n"),
    ("(int) -> int", "halve a number, integer half of x rounded down", "def halve(x):\n    return x // 2\n"),
    ("(int) -> int", "increment, add one, successor x plus 1", "def inc(x):\n    return x + 1\n"),
    ("(int) -> int", "decrement, subtract one, predecessor x minus 1", "def dec(x):\n    return x - 1\n"),
    ("(int) -> int", "negate a number, minus x, opposite sign", "def negate(x):\n    return -x\n"),
    ("(int) -> int", "absolute value of a number, magnitude", "def absolute(x):\n    return x if x >= 0 else -x\n"),
    ("(int) -> int", "sign of a number: -1 negative, 0 zero, 1 positive", "def sign(x):\n    return (x > 0) - (x < 0)\n"),
    ("(int) -> int", "factorial n!, product of 1 to n",
     "def factorial(n):\n    if n < 0 or n > 1000:\n        raise ValueError(n)\n    r = 1\n    for k in range(2, n + 1):\n        r *= k\n    return r\n"),
    ("(int) -> int", "fibonacci number, fib(0)=0 fib(1)=1 sequence",
     "def fib(n):\n    if n < 0 or n > 5000:\n        raise ValueError(n)\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"),
    ("(int) -> int", "triangular number, sum of 1 to n, n(n+1)/2", "def triangular(n):\n    return n * (n + 1) // 2\n"),
    ("(int) -> int", "sum of the decimal digits of a number, digit sum",
     "def digit_sum(n):\n    n = -n if n < 0 else n\n    s = 0\n    while n:\n        s += n % 10\n        n //= 10\n    return s\n"),
    ("(int) -> int", "reverse the decimal digits of a number",
     "def reverse_digits(n):\n    sgn = -1 if n < 0 else 1\n    n = -n if n < 0 else n\n    r = 0\n    while n:\n        r = r * 10 + n % 10\n        n //= 10\n    return sgn * r\n"),
    ("(int) -> int", "number of decimal digits of a number, digit count length",
     "def num_digits(n):\n    n = -n if n < 0 else n\n    c = 1\n    while n >= 10:\n        n //= 10\n        c += 1\n    return c\n"),
    ("(int) -> int", "integer square root, floor of the square root",
     "def isqrt(n):\n    if n < 0:\n        raise ValueError(n)\n    r = int(n ** 0.5)\n    while r * r > n:\n        r -= 1\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r\n"),
    # --------------------------------------------------------------- int -> bool
    ("(int) -> bool", "is the number even, divisible by two", "def is_even(x):\n    return x % 2 == 0\n"),
    ("(int) -> bool", "is the number odd, not divisible by two", "def is_odd(x):\n    return x % 2 == 1\n"),
    ("(int) -> bool", "is the number prime, only divisible by 1 and itself",
     "def is_prime(n):\n    if n < 2:\n        return False\n    if n > 10 ** 12:\n        raise ValueError(n)\n    k = 2\n    while k * k <= n:\n        if n % k == 0:\n            return False\n        k += 1\n    return True\n"),
    ("(int) -> bool", "is the number positive, greater than zero", "def is_positive(x):\n    return x > 0\n"),
    ("(int) -> bool", "is the number a perfect square",
     "def is_square(n):\n    if n < 0:\n        return False\n    r = int(n ** 0.5)\n    while r * r > n:\n        r -= 1\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r * r == n\n"),
    # ---------------------------------------------------------- (int, int) -> int
    ("(int, int) -> int", "add two numbers, sum a plus b", "def add(a, b):\n    return a + b\n"),
    ("(int, int) -> int", "subtract two numbers, difference a minus b", "def sub(a, b):\n    return a - b\n"),
    ("(int, int) -> int", "multiply two numbers, product a times b", "def mul(a, b):\n    return a * b\n"),
    ("(int, int) -> int", "integer division a divided by b rounded down, quotient", "def floordiv(a, b):\n    return a // b\n"),
    ("(int, int) -> int", "remainder of a divided by b, modulo", "def mod(a, b):\n    return a % b\n"),
    ("(int, int) -> int", "power, a raised to the exponent b",
     "def power(a, b):\n    if b < 0 or b > 256:\n        raise ValueError(b)\n    return a ** b\n"),
    ("(int, int) -> int", "greatest common divisor of two numbers, gcd",
     "def gcd(a, b):\n    a, b = abs(a), abs(b)\n    while b:\n        a, b = b, a % b\n    return a\n"),
    ("(int, int) -> int", "least common multiple of two numbers, lcm",
     "def lcm(a, b):\n    if a == 0 or b == 0:\n        return 0\n    x, y = abs(a), abs(b)\n    while y:\n        x, y = y, x % y\n    return abs(a * b) // x\n"),
    ("(int, int) -> int", "larger of two numbers, maximum of a and b", "def max2(a, b):\n    return a if a >= b else b\n"),
    ("(int, int) -> int", "smaller of two numbers, minimum of a and b", "def min2(a, b):\n    return a if a <= b else b\n"),
    ("(int, int) -> bool", "does a divide b evenly, b is a multiple of a",
     "def divides(a, b):\n    return a != 0 and b % a == 0\n"),
    # ------------------------------------------------------------- list -> int
    ("(list[int]) -> int", "sum of the numbers in a list, total", "def sum_list(xs):\n    return sum(xs)\n"),
    ("(list[int]) -> int", "product of the numbers in a list, multiply all",
     "def product(xs):\n    p = 1\n    for x in xs:\n        p *= x\n    return p\n"),
    ("(list[int]) -> int", "largest number in a list, maximum", "def maximum(xs):\n    return max(xs)\n"),
    ("(list[int]) -> int", "smallest number in a list, minimum", "def minimum(xs):\n    return min(xs)\n"),
    ("(list[int]) -> int", "length of a list, number of elements, count", "def length(xs):\n    return len(xs)\n"),
    ("(list[int]) -> int", "count the even numbers in a list",
     "def count_even(xs):\n    return sum(1 for x in xs if x % 2 == 0)\n"),
    ("(list[int]) -> int", "first element of a list, head", "def head(xs):\n    return xs[0]\n"),
    ("(list[int]) -> int", "last element of a list", "def last(xs):\n    return xs[-1]\n"),
    ("(list[int]) -> int", "most common number in a list, mode (smallest on ties)",
     "def mode(xs):\n    counts = {}\n    for x in xs:\n        counts[x] = counts.get(x, 0) + 1\n    best = max(counts.values())\n    return min(x for x in counts if counts[x] == best)\n"),
    # ----------------------------------------------------------- list -> float
    ("(list[int]) -> float", "mean of a list, arithmetic average", "def mean(xs):\n    return sum(xs) / len(xs)\n"),
    ("(list[int]) -> float", "median of a list, middle value after sorting",
     "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n    if n % 2 == 1:\n        return float(s[n // 2])\n    return (s[n // 2 - 1] + s[n // 2]) / 2\n"),
    # ------------------------------------------------------------ list -> list
    ("(list[int]) -> list[int]", "reverse a list, backwards order", "def reverse(xs):\n    return xs[::-1]\n"),
    ("(list[int]) -> list[int]", "sort a list ascending, increasing order", "def sort(xs):\n    return sorted(xs)\n"),
    ("(list[int]) -> list[int]", "remove duplicates from a list keeping first occurrences, unique distinct",
     "def unique(xs):\n    seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n    return seen\n"),
    ("(list[int]) -> list[int]", "keep only the even numbers of a list, filter even",
     "def filter_even(xs):\n    return [x for x in xs if x % 2 == 0]\n"),
    ("(list[int]) -> list[int]", "double every element of a list, map double",
     "def map_double(xs):\n    return [2 * x for x in xs]\n"),
    ("(list[int]) -> list[int]", "square every element of a list, map square",
     "def map_square(xs):\n    return [x * x for x in xs]\n"),
    ("(list[int]) -> list[int]", "cumulative sum of a list, running total prefix sums",
     "def cumulative_sum(xs):\n    out, s = [], 0\n    for x in xs:\n        s += x\n        out.append(s)\n    return out\n"),
    ("(list[int]) -> list[int]", "all elements but the first, tail rest", "def tail(xs):\n    return xs[1:]\n"),
    # ------------------------------------------------------------ int -> list
    ("(int) -> list[int]", "list of the numbers 0 to n-1, range",
     "def range_list(n):\n    if n > 100000:\n        raise ValueError(n)\n    return list(range(n))\n"),
    ("(int) -> list[int]", "decimal digits of a number as a list",
     "def digits(n):\n    n = -n if n < 0 else n\n    out = [n % 10]\n    n //= 10\n    while n:\n        out.append(n % 10)\n        n //= 10\n    return out[::-1]\n"),
    # ------------------------------------------------------- (list, int) -> ...
    ("(list[int], int) -> list[int]", "first n elements of a list, take prefix", "def take(xs, n):\n    return xs[:n] if n >= 0 else []\n"),
    ("(list[int], int) -> list[int]", "drop the first n elements of a list", "def drop(xs, n):\n    return xs[n:] if n >= 0 else list(xs)\n"),
    ("(list[int], int) -> bool", "does the list contain the number, membership", "def contains(xs, x):\n    return x in xs\n"),
    ("(list[int], int) -> int", "position of the number in the list, index of first occurrence, -1 if absent",
     "def index_of(xs, x):\n    return xs.index(x) if x in xs else -1\n"),
    ("(list[int], int) -> int", "how many times the number occurs in the list, count occurrences",
     "def count_of(xs, x):\n    return xs.count(x)\n"),
    ("(list[int], list[int]) -> list[int]", "concatenate two lists, join append", "def concat(xs, ys):\n    return xs + ys\n"),
    # Edits at a position: 0 is the first, -1 the last; a position the list lacks changes nothing.
    ("(list[int], int, int) -> list[int]", "replace the element at position i with v, set the item at an index",
     "def replace_at(xs, i, v):\n    if not -len(xs) <= i < len(xs):\n        return list(xs)\n    j = i % len(xs)\n"
     "    return xs[:j] + [v] + xs[j + 1:]\n"),
    ("(list[int], int, int) -> list[int]", "insert v before position i of a list, put an element at an index",
     "def insert_at(xs, i, v):\n    out = list(xs)\n    out.insert(i, v)\n    return out\n"),
    ("(list[int], int) -> list[int]", "remove the element at position i of a list, delete the item at an index",
     "def remove_at(xs, i):\n    if not -len(xs) <= i < len(xs):\n        return list(xs)\n    j = i % len(xs)\n"
     "    return xs[:j] + xs[j + 1:]\n"),
    ("(list[int], int, int) -> list[int]", "swap the elements at positions i and j of a list, exchange two items",
     "def swap(xs, i, j):\n    out = list(xs)\n    if -len(xs) <= i < len(xs) and -len(xs) <= j < len(xs):\n"
     "        out[i], out[j] = out[j], out[i]\n    return out\n"),
    ("(list[int]) -> bool", "is the list sorted in ascending order",
     "def is_sorted(xs):\n    return all(xs[i] <= xs[i + 1] for i in range(len(xs) - 1))\n"),
    # ------------------------------------------------------------------ floats
    ("(float, float) -> float", "hypotenuse of a right triangle from its two legs, sqrt(a^2+b^2)",
     "def hypotenuse(a, b):\n    return (a * a + b * b) ** 0.5\n"),
    ("(float) -> float", "convert degrees Celsius to Fahrenheit temperature", "def celsius_to_fahrenheit(c):\n    return c * 9 / 5 + 32\n"),
    ("(float) -> float", "convert degrees Fahrenheit to Celsius temperature", "def fahrenheit_to_celsius(f):\n    return (f - 32) * 5 / 9\n"),
    ("(float) -> float", "square root of a number", "def sqrt(x):\n    if x < 0:\n        raise ValueError(x)\n    return x ** 0.5\n"),
    ("(float, float) -> float", "average of two numbers, midpoint", "def average2(a, b):\n    return (a + b) / 2\n"),
]
