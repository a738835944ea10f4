using System.Security.Claims;
using System.Security.Cryptography;
using AiHub.Identity;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Identity;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Benchmarks;

/// <summary>What signing in costs (password hashing) against what every authenticated request costs (token validation).</summary>
[MemoryDiagnoser]
[MedianColumn]
public class AuthBenchmarks
{
    readonly JsonWebTokenHandler _handler = new();
    readonly PasswordHasher<AppUser> _hasher = new();
    readonly AppUser _user = new() { Id = Guid.CreateVersion7(), Email = "bench@example.com" };
    SymmetricSecurityKey _key = null!;
    TokenValidationParameters _validation = null!;
    string _token = null!;
    string _hash = null!;

    [GlobalSetup]
    public void Setup()
    {
        _key = new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(64)) { KeyId = "bench" };
        _validation = new TokenValidationParameters { ValidIssuer = Tokens.Issuer, ValidAudience = Tokens.Audience, IssuerSigningKey = _key };
        _token = IssueAccessToken();
        _hash = _hasher.HashPassword(_user, "Correct-Horse-42");
    }

    [Benchmark(Baseline = true)]
    public async Task<bool> ValidateAccessToken() => (await _handler.ValidateTokenAsync(_token, _validation)).IsValid;

    [Benchmark]
    public string IssueAccessToken() => _handler.CreateToken(new SecurityTokenDescriptor
    {
        Issuer = Tokens.Issuer,
        Audience = Tokens.Audience,
        Expires = DateTime.UtcNow.AddMinutes(15),
        SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.HmacSha256),
        Subject = new ClaimsIdentity([new Claim("sub", _user.Id.ToString()), new Claim("jti", Guid.NewGuid().ToString("N")), new Claim("sid", Guid.NewGuid().ToString())]),
    });

    [Benchmark]
    public string HashRefreshToken() => Sessions.Hash("ahr_" + "q2Nq1yYd3mW3L6Hh0bA9c1bS7o5r2T8u4V0x6Z9a1C3");

    [Benchmark]
    public PasswordVerificationResult VerifyPassword() => _hasher.VerifyHashedPassword(_user, _hash, "Correct-Horse-42");
}
